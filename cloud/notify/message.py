"""What is sent: one :class:`Notification`, rendered by each channel its own way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True, slots=True)
class Notification:
    """A message to people. ``title`` and ``text`` are plain text (Chinese first, the
    English after it, as the caller writes them); ``to`` the recipients a channel may
    address (phone numbers for SMS, user ids for an @-mention); ``data`` structured
    facts a webhook receiver can use (alarm id, device, values); ``key`` the caller's
    idempotency key (an alarm's ``alarm:17:step:1``), kept with the delivery;
    ``personal`` marks a message carrying personal data (a phone, a one-time code): the
    notifier keeps it sealed by ``cloud.pii`` while it is stored, never in clear."""

    title: str
    text: str
    severity: Severity = "warning"
    to: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    personal: bool = False

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError("title: a notification needs a title")
        if len(self.title) > 200:
            raise ValueError(f"title: {len(self.title)} characters, at most 200")
        if len(self.text) > 4000:
            raise ValueError(f"text: {len(self.text)} characters, at most 4000")
        if self.severity not in ("info", "warning", "critical"):
            raise ValueError(f"severity: {self.severity!r} is not info, warning or critical")

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "text": self.text,
            "severity": self.severity,
            "to": list(self.to),
            "data": self.data,
            "key": self.key,
            **({"personal": True} if self.personal else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Notification:
        return cls(
            d["title"], d["text"], d.get("severity", "warning"), tuple(d.get("to", ())),
            dict(d.get("data", {})), d.get("key", ""), bool(d.get("personal", False)),
        )  # fmt: skip
