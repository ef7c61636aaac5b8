"""Encode and decode wire messages (orjson), with limits and clear errors.

Every decoding failure is a :class:`ProtocolError` naming the field and the
reason, so a receiver can dead-letter the message and carry on.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.messages import SCHEMA_VERSION

M = TypeVar("M", bound=BaseModel)


class ProtocolError(ValueError):
    """A message that breaks the wire contract.

    ``code`` is a short stable reason (for counters), ``field`` the dotted path of
    the offending field (``""`` for the whole payload), ``reason`` the human text.
    """

    def __init__(self, code: str, field: str, reason: str) -> None:
        self.code = code
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "field": self.field, "reason": self.reason}


def encode(message: BaseModel) -> bytes:
    """Serialize a message compactly (no nulls, no defaults that equal None)."""
    return orjson.dumps(message.model_dump(mode="json", exclude_none=True))


def field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a dotted path: ``series[0].values.temperature``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _from_validation(exc: ValidationError) -> ProtocolError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    path = field_path(first["loc"])
    msg = first["msg"]
    if msg.startswith("Value error, "):
        msg = msg.removeprefix("Value error, ")
        # model validators name their own field: "values.x: ..." -> join with loc
        head, sep, rest = msg.partition(": ")
        if sep and " " not in head:
            path = f"{path}.{head}" if path else head
            msg = rest
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ProtocolError("invalid", path, msg + more)


def decode(kind: type[M], payload: bytes, limits: Limits = DEFAULT_LIMITS) -> M:
    """Parse and validate one payload as ``kind``; raise ProtocolError if it fails."""
    if len(payload) > limits.max_payload_bytes:
        raise ProtocolError(
            "too_large",
            "",
            f"payload is {len(payload)} bytes, the limit is {limits.max_payload_bytes}",
        )
    try:
        raw = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("not_json", "", f"payload is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ProtocolError(
            "invalid", "", f"payload must be a JSON object, got {type(raw).__name__}"
        )
    version = raw.get("v")
    # ``type() is int``: JSON true and 1.0 compare equal to 1 in Python, and are not it.
    if type(version) is not int or version != SCHEMA_VERSION:
        raise ProtocolError(
            "schema_version",
            "v",
            f"unsupported schema version {version!r}; this receiver speaks {SCHEMA_VERSION}",
        )
    try:
        return kind.model_validate(raw)
    except ValidationError as exc:
        raise _from_validation(exc) from None
