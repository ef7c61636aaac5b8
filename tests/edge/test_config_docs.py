"""edge/README.md documents every key of the gateway config (edge/config.py), so the
docs cannot drift from the schema again: for each section (``mqtt``, ``mqtt.tls``,
``modbus.hosts[]``, ...) one paragraph or bullet names the section in backticks
and every one of its keys in backticks."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from edge.config import GatewayConfig

README = Path(__file__).resolve().parents[2] / "edge" / "README.md"
ROOT_MARKER = "top level:"


def submodel(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds (if any) and whether it is a list of them."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return submodel(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = submodel(arg)
            if found[0] is not None:
                return found
        return None, False
    if origin is list:
        return submodel(get_args(annotation)[0])[0], True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def sections(model: type[BaseModel], path: str = "") -> dict[str, list[str]]:
    """``{section path: its keys}``; the root is ``""``."""
    out = {path: list(model.model_fields)}
    for name, info in model.model_fields.items():
        sub, is_list = submodel(info.annotation)
        if sub is not None:
            child = f"{path}.{name}" if path else name
            out.update(sections(sub, child + ("[]" if is_list else "")))
    return out


def blocks(text: str) -> list[str]:
    """Paragraphs, with each top-level bullet on its own."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        out.extend(part for part in re.split(r"\n(?=- )", para) if part.strip())
    return out


def missing_keys(text: str, path: str, keys: list[str]) -> list[str] | None:
    """The keys the best block for ``path`` lacks (None: no block names the section)."""
    marker = ROOT_MARKER if path == "" else f"`{path}`"
    best: list[str] | None = None
    for block in blocks(text):
        if marker not in block:
            continue
        lacking = [k for k in keys if not re.search(rf"`{re.escape(k)}(\[\])?`", block)]
        if best is None or len(lacking) < len(best):
            best = lacking
    return best


def test_every_config_key_is_in_the_edge_readme() -> None:
    text = README.read_text(encoding="utf-8")
    found = sections(GatewayConfig)
    assert {"", "mqtt.tls", "modbus.hosts[].devices[].registers[]", "cameras[].trigger"} <= set(
        found
    )
    problems = []
    for path, keys in found.items():
        lacking = missing_keys(text, path, keys)
        where = path or "the top level"
        if lacking is None:
            problems.append(
                f"{where}: no paragraph names `{path}`"
                if path
                else f"the top level: no paragraph starts with {ROOT_MARKER!r}"
            )
        elif lacking:
            problems.append(f"{where}: {', '.join(lacking)} not documented")
    assert problems == [], "edge/README.md lacks config keys:\n" + "\n".join(problems)


def test_the_check_can_fail() -> None:
    text = "- `mqtt`: `url`, `host`\n\n- `mqtt.tls`: `enabled`"
    assert missing_keys(text, "mqtt", ["url", "host", "port"]) == ["port"]
    assert missing_keys(text, "mqtt.tls", ["enabled"]) == []
    assert missing_keys(text, "batch", ["interval_s"]) is None
