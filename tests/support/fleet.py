"""A provisioned fleet on a private Mosquitto: gateways with broker accounts, an
ingest service account, and the simulated gateways of :mod:`bench.fleet`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from bench.fleet import FleetStats, GatewayAccount, SimGateway
from cloud.db import Database
from cloud.provisioning.service import ensure_service_account, provision_gateway
from cloud.settings import Settings
from protocol.broker import BrokerUrl
from tests.support.mosquitto import MosquittoBroker


async def provision(
    db: Database, broker: MosquittoBroker, n: int, *, county: str = "533103", prefix: str = "sim"
) -> tuple[list[GatewayAccount], BrokerUrl]:
    """``n`` gateways and one ingest account; the broker reloaded with their files."""
    settings = Settings(demo=True, mosquitto_dir=broker.dir, mosquitto_pid_file=None)
    accounts = []
    for i in range(n):
        gw, password = await provision_gateway(
            db, county, f"{prefix} {i}", gateway_id=f"{prefix}-{i:04d}", settings=None
        )
        accounts.append(GatewayAccount(gw.id, gw.county, password))
    ingest_pw = await ensure_service_account(
        db, "cloud-ingest", "ingest", settings=settings, reset=True
    )
    assert ingest_pw is not None
    broker.reload()
    return accounts, BrokerUrl(broker.host, broker.port, "cloud-ingest", ingest_pw)


@asynccontextmanager
async def running_fleet(
    accounts: Sequence[GatewayAccount],
    broker: MosquittoBroker,
    *,
    devices: int = 1,
    ack_timeout_s: float = 3.0,
) -> AsyncIterator[tuple[list[SimGateway], FleetStats]]:
    stats = FleetStats()
    gws = [
        SimGateway(
            a, broker.host, broker.port, devices=devices, ack_timeout_s=ack_timeout_s, stats=stats
        )
        for a in accounts
    ]
    tasks = [asyncio.create_task(g.run()) for g in gws]
    try:
        await asyncio.wait_for(asyncio.gather(*(g.connected.wait() for g in gws)), 20)
        yield gws, stats
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
