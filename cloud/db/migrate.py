"""Run Alembic migrations programmatically: ``dehong cloud init-db`` and tests call this."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from cloud.db.engine import sync_url

HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the schema at ``url`` to ``revision``; idempotent.

    ``heads``: every branch. Domains add their tables in their own revisions, each
    branching from the revision it needs, so that parallel work never fights over
    one linear chain; a merge revision can join them when a later change needs both.
    """
    from sqlalchemy.engine import make_url

    u = make_url(sync_url(url))
    if u.drivername.startswith("sqlite") and u.database not in (None, "", ":memory:"):
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
