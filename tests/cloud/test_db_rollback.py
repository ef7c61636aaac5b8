"""A transaction whose connection was invalidated (dropped mid-transaction, a cancelled
statement) rolls back with its own error: the write-generation hook of the rollback
(cloud/db/engine.py ``_note_rollback``) read the dead connection's ``info``, raised
PendingRollbackError from inside the rollback, hid the error that caused it and left
the rollback unfinished. Seen in CI as a background trips pass failing with
PendingRollbackError."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from cloud.db import Database


class Boom(RuntimeError):
    pass


async def test_an_invalidated_transaction_rolls_back_with_its_own_error(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(Boom):
            async with db.transaction() as s:
                await s.execute(text("CREATE TABLE t (a INTEGER)"))
                await s.execute(text("INSERT INTO t VALUES (1)"))
                await (await s.connection()).invalidate()
                raise Boom("the caller's own error")
        async with db.session() as s:  # the pool still serves
            assert (await s.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await db.dispose()
