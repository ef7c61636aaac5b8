"""Migration 0211 moves existing dead-letter payloads into ``dead_letter_payloads``,
each distinct payload once, and back on downgrade; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from cloud.db.engine import sync_url
from cloud.db.migrate import alembic_config, upgrade

ROWS = [(b'{"gw":"a"}', "unregistered"), (b'{"gw":"a"}', "unregistered"), (b"\x00 raw", "not_json")]


def _round_trip(url: str) -> None:
    upgrade(url, "0210")
    engine = sa.create_engine(sync_url(url))
    with engine.begin() as c:
        for payload, code in ROWS:
            c.execute(
                sa.text(
                    "INSERT INTO dead_letters (received_at, topic, county, gateway_id, code, "
                    "field, reason, payload) VALUES (CURRENT_TIMESTAMP, 't', '533103', 'a', "
                    ":code, '', 'r', :payload)"
                ),
                {"code": code, "payload": payload},
            )
    upgrade(url, "heads")
    with engine.connect() as c:
        payloads = c.execute(sa.text("SELECT size, data FROM dead_letter_payloads")).all()
        letters = c.execute(
            sa.text(
                "SELECT p.data FROM dead_letters d JOIN dead_letter_payloads p "
                "ON p.sha256 = d.payload_sha256 ORDER BY d.id"
            )
        ).all()
    assert sorted(bytes(d) for _, d in payloads) == sorted({p for p, _ in ROWS})
    assert [bytes(d) for (d,) in letters] == [p for p, _ in ROWS]
    command.downgrade(alembic_config(url), "0210")
    with engine.connect() as c:
        back = c.execute(sa.text("SELECT payload FROM dead_letters ORDER BY id")).all()
    assert [bytes(p) for (p,) in back] == [p for p, _ in ROWS]
    engine.dispose()


async def test_payloads_move_once_on_sqlite(tmp_path: Path) -> None:
    await asyncio.to_thread(_round_trip, f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
async def test_payloads_move_once_on_postgres(pg_url: str) -> None:
    await asyncio.to_thread(_round_trip, pg_url)
