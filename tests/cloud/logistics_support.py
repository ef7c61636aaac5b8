"""A migrated database (SQLite or the CI PostgreSQL) for the logistics and pii tests, and
a keyring of fresh master keys."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from cloud.db import Database
from cloud.pii import Keyring
from tests.support.schema import migrate_async


def new_keys(*kids: str) -> str:
    """``kid:base64`` of fresh random master keys (the first active)."""
    return ",".join(f"{k}:{base64.b64encode(os.urandom(32)).decode()}" for k in kids)


def keyring(*kids: str) -> Keyring:
    return Keyring.parse(new_keys(*kids or ("k1",)))


@asynccontextmanager
async def database(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    async with AsyncExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'l.db'}"
            await migrate_async(url)
        else:
            from tests.support.postgres import fresh_database, migrated_template

            template = await asyncio.to_thread(migrated_template)
            url = stack.enter_context(fresh_database(template=template))
        db = Database(url)
        stack.push_async_callback(db.dispose)
        yield db
