"""A provisioned fleet on a private Mosquitto: gateways with broker accounts, an
ingest service account, and the simulated gateways of :mod:`bench.fleet`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from bench.fleet import FleetStats, GatewayAccount, SimGateway, provision
from tests.support.mosquitto import MosquittoBroker

__all__ = ["provision", "running_fleet"]


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
