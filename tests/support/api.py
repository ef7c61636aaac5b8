"""An API under test: migrated database (SQLite or PostgreSQL), embedded time-series
store, the app, an httpx client, and seeded records in two counties."""

from __future__ import annotations

import asyncio
import base64
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from cloud.app import create_app
from cloud.audit.service import record
from cloud.auth.principal import Role
from cloud.auth.service import create_api_key, hash_password, issue_token
from cloud.auth.storage import User
from cloud.db import Database, utcnow
from cloud.devices.storage import Device, Gateway
from cloud.provisioning import mosquitto
from cloud.settings import Settings
from cloud.timeseries import Point, TimeSeriesStore
from cloud.timeseries.sqlite import SqliteStore
from cloud.timeseries.windows import rollup_fields
from tests.support.schema import migrate_async

HOME = "533103"  # Mangshi
OTHER = "533124"  # Longchuan
PASSWORD = "correct-horse-battery"
_HASH = hash_password(PASSWORD)  # hashed once: argon2 is slow on purpose
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
#: The pii master key of the API under test (made once per test run; never stored).
PII_KEYS = f"t1:{__import__('base64').b64encode(secrets.token_bytes(32)).decode()}"


def cheap_argon2(monkeypatch: Any) -> None:
    """Argon2 at its smallest cost for tests that log in many times (hundreds of
    hashes at 64 MiB, t=3 take minutes on a busy CI machine). The code path is the
    same; only the cost parameters in the hashes differ."""
    from argon2 import PasswordHasher

    from cloud.auth import service

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(service, "_hasher", cheap)
    monkeypatch.setattr(service, "_DUMMY_HASH", cheap.hash("dehong-no-such-user"))
    monkeypatch.setattr(sys.modules[__name__], "_HASH", cheap.hash(PASSWORD))


@dataclass
class ApiEnv:
    settings: Settings
    db: Database
    tsdb: SqliteStore
    app: FastAPI
    client: httpx.AsyncClient
    keys: dict[str, str] = field(default_factory=dict)

    async def add_user(self, username: str, role: Role, county: str) -> User:
        async with self.db.transaction() as s:
            user = User(
                username=username,
                password_hash=sys.modules[__name__]._HASH,
                role=role.value,
                county=county,
                display_name="",
                disabled=False,
                created_at=utcnow(),
            )
            s.add(user)
        return user

    async def headers(self, role: Role, county: str, username: str | None = None) -> dict[str, str]:
        """Bearer headers of a (new) user with this role and county; for the gateway role,
        the county's seeded gateway authenticated as itself (:meth:`gateway_headers`)."""
        if role is Role.GATEWAY:
            return await self.gateway_headers(GATEWAYS[county])
        name = username or f"{role.value}-{county}-{secrets.token_hex(3)}"
        user = await self.add_user(name, role, county)
        token, _ = issue_token(user, self.settings.jwt_secret.get_secret_value(), 600)
        return {"Authorization": f"Bearer {token}"}

    async def gateway_headers(self, gateway_id: str) -> dict[str, str]:
        """HTTP Basic of a gateway: its id and (now) broker password, the same each call."""
        password = f"broker-password-of-{gateway_id}"
        async with self.db.transaction() as s:
            gw = await s.get(Gateway, gateway_id)
            assert gw is not None, gateway_id
            gw.mqtt_password_hash = mosquitto.hash_password(password)
        token = base64.b64encode(f"{gateway_id}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


#: the seeded gateway of each county (the gateway role's headers)
GATEWAYS = {HOME: "gw-m1", OTHER: "gw-l1"}


async def seed(env: ApiEnv) -> None:
    """One gateway, device, API key and audit entry in each of HOME and OTHER."""
    async with env.db.transaction() as s:
        for county, gw, dev in ((HOME, "gw-m1", "gw-m1.room-1"), (OTHER, "gw-l1", "gw-l1.room-1")):
            s.add(
                Gateway(
                    id=gw,
                    county=county,
                    name=f"Gateway {gw}",
                    site=f"site-{gw}",
                    mqtt_password_hash="$7$101$x$y",
                    created_at=utcnow(),
                    birth_session=3,
                    death_session=2,
                    last_birth_at=utcnow(),
                    last_seen_at=utcnow(),
                    versions={"agent": "0.1.0"},
                    config_hash="abc",
                    inventory=[],
                )
            )
            s.add(
                Device(
                    id=dev,
                    county=county,
                    kind="cold_room",
                    site=f"site-{gw}",
                    gateway_id=gw,
                    metrics=["temp_c", "rh"],
                    first_seen_at=utcnow(),
                    last_seen_at=utcnow(),
                    last_reading_ms=T0 + 59 * 60_000,
                    readings=120,
                )
            )
            new = await create_api_key(
                s, name=f"erp-{county}", role=Role.OPERATOR, county=county, actor="test"
            )
            env.keys[county] = new.key
            await record(s, "test", "test.seeded", f"gateway:{gw}", county, {})
    await seed_timeseries(env.tsdb)


async def seed_timeseries(tsdb: TimeSeriesStore, *, raw: bool = True) -> None:
    """An hour of readings of each seeded device at T0, with its roll-ups.

    ``raw=False`` writes the roll-ups only: InfluxDB refuses raw points older than
    its raw retention, and T0 is.
    """
    points = [
        Point(
            "cold_room", dev, county, "site", T0 + i * 60_000, {"temp_c": 4.0 + i % 3, "rh": 80.0}
        )
        for county, dev in ((HOME, "gw-m1.room-1"), (OTHER, "gw-l1.room-1"))
        for i in range(60)
    ]
    if raw:
        await tsdb.write(points)
    # T0 is older than raw retention: queries of it are answered from the roll-ups.
    for resolution, every in (("1m", 60_000), ("1h", 3_600_000)):
        for county, dev in ((HOME, "gw-m1.room-1"), (OTHER, "gw-l1.room-1")):
            rows = [(p.ts_ms, p.fields) for p in points if p.device == dev]
            await tsdb.write_rollups(
                resolution,  # type: ignore[arg-type]
                [
                    Point("cold_room", dev, county, "site", w, f)
                    for w, f in rollup_fields(rows, every).items()
                ],
            )


@asynccontextmanager
async def api_env(backend: str, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    """``backend``: "sqlite" or "postgres" (a fresh database on the CI server)."""
    async with AsyncExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'api.db'}"
            await migrate_async(url)  # a copy of the session's migrated template
        else:
            from tests.support.postgres import fresh_database, migrated_template

            template = await asyncio.to_thread(migrated_template)
            url = stack.enter_context(fresh_database(template=template))
        settings = Settings(
            database_url=url,
            jwt_secret=secrets.token_urlsafe(48),
            mosquitto_dir=tmp_path / "mosquitto",
            mosquitto_pid_file=None,
            mosquitto_reload="watch",  # no broker here: nothing to reload
            tsdb_path=tmp_path / "ts.db",
            filestore_dir=tmp_path / "files",
            pii_keys=PII_KEYS,  # fresh master keys (cloud/pii) for this test run
        )
        db = Database(url)
        stack.push_async_callback(db.dispose)
        tsdb = SqliteStore(tmp_path / "ts.db")
        await tsdb.open()
        stack.push_async_callback(tsdb.close)
        app = create_app(settings, db=db, tsdb=tsdb)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
        await stack.enter_async_context(client)
        env = ApiEnv(settings, db, tsdb, app, client)
        await seed(env)
        yield env


def unlimited(env: ApiEnv) -> None:
    """No public rate limit on this app: the role, isolation and pagination tables run
    every public route many times from one address (the limit has its own tests,
    tests/cloud/test_resolver_api.py)."""
    from cloud.web.ratelimit import Limiter, TokenBuckets

    env.app.state.resolver_limiter = Limiter(TokenBuckets(1e6, 10**6), ())


@contextmanager
def unwired() -> Iterator[None]:
    """The issue-15 consumers as they stand with no public-service package connected
    (every figure 未接入), whatever app a test made; wired again afterwards."""
    from cloud.wiring import unwire, wire

    unwire()
    try:
        yield
    finally:
        wire()
