"""The one way a decrypted personal field is read: audited in the caller's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.pii.envelope import open_field
from cloud.pii.keys import Keyring


async def reveal(
    session: AsyncSession,
    keyring: Keyring,
    token: str | None,
    *,
    context: str,
    actor: str,
    county: str,
    target: str,
    field: str,
) -> str | None:
    """The plaintext of ``token``, after an audit entry ``pii.read`` (who, which record,
    which field; never the value). ``None`` for no value (nothing read, nothing
    audited). Raises :class:`~cloud.pii.PiiError` on a value that does not open."""
    if token is None:
        return None
    value = open_field(keyring, token, context)
    await record(session, actor, "pii.read", target, county, {"field": field})
    return value
