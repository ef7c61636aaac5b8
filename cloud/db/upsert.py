"""INSERT ... ON CONFLICT for both SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_insert(session: AsyncSession, model: type[Any]) -> Any:
    """INSERT for the session's database (SQLite or PostgreSQL), with ON CONFLICT."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql if dialect == "postgresql" else sqlite).insert(model)


async def upsert(
    session: AsyncSession,
    model: type[Any],
    values: dict[str, Any] | list[dict[str, Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str] = (),
) -> None:
    """Insert rows; on a key conflict update ``update`` columns (or do nothing)."""
    ins = dialect_insert(session, model).values(values)
    if update:
        stmt = ins.on_conflict_do_update(
            index_elements=list(keys), set_={c: getattr(ins.excluded, c) for c in update}
        )
    else:
        stmt = ins.on_conflict_do_nothing(index_elements=list(keys))
    await session.execute(stmt)
