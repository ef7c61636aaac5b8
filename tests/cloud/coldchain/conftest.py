"""A migrated relational store on SQLite and on the CI PostgreSQL server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from cloud.db import Database
from tests.support.schema import migrate_async


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'cc.db'}"
            await migrate_async(url)
        else:
            from tests.support.postgres import fresh_database, migrated_template

            template = await asyncio.to_thread(migrated_template)
            url = stack.enter_context(fresh_database(template=template))
        database = Database(url)
        try:
            yield database
        finally:
            await database.dispose()
