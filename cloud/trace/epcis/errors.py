"""The one error shape of EPCIS validation: the field at fault and what is wrong with it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """``path`` names the field like ``epcisBody.eventList[3].bizStep`` (empty for the
    document itself); ``reason`` says what is wrong and what to do instead."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason

    def as_dict(self) -> dict[str, str]:
        return {"field": self.path, "detail": self.reason}


def join_path(base: str, *parts: str | int) -> str:
    """``join_path("epcisBody", "eventList", 3, "bizStep")`` -> ``epcisBody.eventList[3].bizStep``."""
    out = base
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else part
    return out


def path_of(base: str, parts: Iterable[str | int]) -> str:
    return join_path(base, *parts)
