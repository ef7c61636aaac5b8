"""A fleet of simulated gateways for load and chaos: the at-least-once contract of a
real gateway without its drivers.

Each :class:`SimGateway` is one authenticated MQTT session (its own broker
account), publishing realistic columnar batches (cold rooms: temperature,
humidity, door, compressor at 1 Hz) at QoS 1. Like the edge agent, it keeps
every batch until a write-ack names it, resends after ``ack_timeout_s``, and
resends everything after a reconnect. Payloads are built as plain dicts and
encoded with orjson: the generator must not be the bottleneck of a benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import aiomqtt
import orjson

from cloud.db import Database
from protocol.backoff import Backoff
from protocol.broker import BrokerUrl
from protocol.topics import PREFIX

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GatewayAccount:
    id: str
    county: str
    password: str


@dataclass(slots=True)
class _Pending:
    seq: int
    payload: bytes
    points: int
    sent_at: float  # monotonic, last send
    first_sent: float  # monotonic, first send


@dataclass
class FleetStats:
    published: int = 0
    resent: int = 0
    acked: int = 0
    points_acked: int = 0
    connects: int = 0
    #: seconds from first publish to write-ack, per batch
    ack_latencies: list[float] = field(default_factory=list)


def room_batch(
    gw: str,
    seq: int,
    t0_ms: int,
    devices: int,
    readings: int,
    *,
    kind: str = "cold_room",
) -> tuple[bytes, int, str]:
    """One data batch: ``devices`` rooms x ``readings`` instants at 1 Hz, 4 metrics each.

    Returns (payload, points, batch id); a point is one device at one instant.
    """
    series = []
    for d in range(devices):
        base = 2.0 + (d % 10)
        series.append(
            {
                "device": f"{gw}.room-{d}",
                "kind": kind,
                "t0": t0_ms,
                "n": readings,
                "dt": 1000,
                "values": {
                    "temperature": [
                        round(base + 0.5 * math.sin((t0_ms / 1000 + i) / 300), 1)
                        for i in range(readings)
                    ],
                    "humidity": [85.0 + ((seq + i) % 5) for i in range(readings)],
                    "door": [0.0] * readings,
                    "compressor": [1.0 if (i // 10) % 2 == 0 else 0.0 for i in range(readings)],
                },
            }
        )
    batch_id = secrets.token_urlsafe(12)
    payload = {
        "v": 1,
        "gw": gw,
        "seq": seq,
        "id": batch_id,
        "sent": int(time.time() * 1000),
        "series": series,
    }
    return orjson.dumps(payload), devices * readings, batch_id


class SimGateway:
    def __init__(
        self,
        account: GatewayAccount,
        host: str,
        port: int,
        *,
        devices: int = 1,
        readings: int = 60,
        ack_timeout_s: float = 5.0,
        stats: FleetStats | None = None,
        keepalive: int = 30,
    ) -> None:
        self.account = account
        self.host = host
        self.port = port
        self.devices = devices
        self.readings = readings
        self.ack_timeout_s = ack_timeout_s
        self.stats = stats if stats is not None else FleetStats()
        self.keepalive = keepalive
        self.pending: dict[str, _Pending] = {}
        self.acked_ids: set[str] = set()
        self.seq = 0
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self._changed = asyncio.Event()
        self._acked = asyncio.Event()

    def topic(self, channel: str) -> str:
        return f"{PREFIX}/{self.account.county}/{self.account.id}/{channel}"

    @property
    def unacked(self) -> int:
        return len(self.pending)

    async def run(self) -> None:
        """Stay connected (reconnecting with the gateways' jittered backoff) and resend
        what is due; until cancelled."""
        backoff = Backoff(0.2, 5.0)
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                log.debug("%s: %s; reconnecting", self.account.id, exc)
            if self.connected.is_set():  # the session was up: start again from the shortest delay
                backoff.reset()
            self.connected.clear()
            await asyncio.sleep(backoff.next())

    async def _session(self) -> None:
        async with aiomqtt.Client(
            self.host,
            self.port,
            username=self.account.id,
            password=self.account.password,
            identifier=f"sim-{self.account.id}",
            keepalive=self.keepalive,
            clean_session=True,
            max_queued_outgoing_messages=100_000,
        ) as client:
            await client.subscribe(self.topic("ack"), qos=1)
            self._client = client
            self.stats.connects += 1
            self.connected.set()
            resend = asyncio.create_task(self._resend_loop(client, everything=True))
            try:
                async for message in client.messages:
                    self._on_ack(bytes(message.payload))  # type: ignore[arg-type]
            finally:
                self._client = None
                resend.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await resend

    def _on_ack(self, payload: bytes) -> None:
        try:
            ack = orjson.loads(payload)
            entries = ack["acks"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("%s: malformed write-ack %r", self.account.id, payload[:80])
            return
        now = time.monotonic()
        for entry in entries:
            item = self.pending.pop(entry.get("id", ""), None)
            if item is None:
                continue
            self.acked_ids.add(entry["id"])
            self.stats.acked += 1
            self.stats.points_acked += item.points
            self.stats.ack_latencies.append(now - item.first_sent)
        self._changed.set()
        self._acked.set()

    async def wait_room(self, window: int) -> None:
        """Wait until fewer than ``window`` batches are unacknowledged (closed-loop load)."""
        while len(self.pending) >= window:
            self._acked.clear()
            await self._acked.wait()

    async def _resend_loop(self, client: aiomqtt.Client, *, everything: bool) -> None:
        if everything:
            for batch_id, item in list(self.pending.items()):
                if batch_id in self.pending:
                    await self._send(client, item, resend=True)
        while True:
            now = time.monotonic()
            due = [p for p in self.pending.values() if now - p.sent_at >= self.ack_timeout_s]
            for item in due:
                await self._send(client, item, resend=True)
            soonest = min(
                (p.sent_at + self.ack_timeout_s for p in self.pending.values()),
                default=now + self.ack_timeout_s,
            )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(0.05, soonest - now))

    async def _send(self, client: aiomqtt.Client, item: _Pending, *, resend: bool) -> None:
        item.sent_at = time.monotonic()
        await client.publish(self.topic("data"), item.payload, qos=1)
        if resend:
            self.stats.resent += 1
        else:
            self.stats.published += 1

    async def publish_batch(self, t0_ms: int, readings: int | None = None) -> str:
        """Make the next batch, keep it pending, and send it if connected."""
        payload, points, batch_id = room_batch(
            self.account.id, self.seq, t0_ms, self.devices, readings or self.readings
        )
        now = time.monotonic()
        item = _Pending(self.seq, payload, points, now, now)
        self.seq += 1
        self.pending[batch_id] = item
        self._changed.set()
        client = self._client
        if client is not None:
            try:
                await self._send(client, item, resend=False)
            except aiomqtt.MqttError:
                log.debug("%s: publish failed; resent after reconnect", self.account.id)
        return batch_id


class Broker(Protocol):
    host: str
    port: int
    dir: Path

    def reload(self) -> None: ...


async def provision(
    db: Database,
    broker: Broker,
    n: int,
    *,
    county: str = "533103",
    prefix: str = "sim",
    new_ingest_password: bool = True,
) -> tuple[list[GatewayAccount], BrokerUrl | None]:
    """``n`` gateways and one ingest account (``cloud-ingest``) in the registry; the
    broker's passwd/acl regenerated and reloaded. ``new_ingest_password=False`` leaves
    the ingest account as it is (running workers keep their password); the URL is None."""
    from cloud.provisioning.service import (
        ensure_service_account,
        provision_gateway,
        sync_mosquitto,
    )
    from cloud.settings import Settings

    settings = Settings(demo=True, mosquitto_dir=broker.dir, mosquitto_pid_file=None)
    accounts = []
    for i in range(n):
        gw, password = await provision_gateway(
            db, county, f"{prefix} {i}", gateway_id=f"{prefix}-{i:04d}", settings=None
        )
        accounts.append(GatewayAccount(gw.id, gw.county, password))
    if not new_ingest_password:
        await sync_mosquitto(db, settings)
        broker.reload()
        return accounts, None
    ingest_pw = await ensure_service_account(
        db, "cloud-ingest", "ingest", settings=settings, reset=True
    )
    assert ingest_pw is not None
    broker.reload()
    return accounts, BrokerUrl(broker.host, broker.port, "cloud-ingest", ingest_pw)


async def ingest_account(db: Database, broker: Broker, name: str) -> BrokerUrl:
    """A broker account of its own for one more ingest worker: the broker takes the
    client id from the username, so two workers on one account would end each other."""
    from cloud.provisioning.service import ensure_service_account
    from cloud.settings import Settings

    settings = Settings(demo=True, mosquitto_dir=broker.dir, mosquitto_reload="watch")
    password = await ensure_service_account(db, name, "ingest", settings=settings, reset=True)
    assert password is not None
    broker.reload()
    return BrokerUrl(broker.host, broker.port, name, password)


async def wait_all_acked(gateways: Iterable[SimGateway], timeout_s: float) -> bool:
    """True when no gateway has a pending batch, within ``timeout_s``."""
    gws = list(gateways)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(g.unacked == 0 for g in gws):
            return True
        await asyncio.sleep(0.1)
    return all(g.unacked == 0 for g in gws)
