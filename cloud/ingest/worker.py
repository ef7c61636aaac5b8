"""``dehong cloud ingest``: the MQTT side of ingest.

Subscribes (QoS 1) to every gateway channel, hands each message to
:class:`~cloud.ingest.pipeline.Ingest`, and publishes write-acks. With
``DEHONG_MQTT_SHARED=true`` the data, event and health channels use the shared
subscription ``$share/ingest/...`` so that N workers split the load; ``birth``,
``death`` and ``cmd/ack`` stay plain subscriptions (retained messages never reach
``$share``). Reconnects with jittered backoff capped at :data:`RECONNECT_MAX_S`;
the pipeline never sees MQTT.

With shared subscriptions the worker keeps a persistent session: MQTT 5, a
stable client id (``DEHONG_INGEST_CLIENT_ID``, or one derived from the host and
the metrics port) and a session expiry (``DEHONG_INGEST_SESSION_EXPIRY_S``). While
the worker restarts, the broker queues what the shared group hands it and
delivers it on reconnect, instead of dropping it until the gateways resend. A
session left by a worker that never comes back expires; what was queued for it
is resent by the gateways (it was never acknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud.auth.secret_check import check_settings
from cloud.db import Database
from cloud.ingest.pipeline import Ingest
from cloud.metrics.access import check_listener
from cloud.metrics.server import MetricsServer
from cloud.settings import Settings
from cloud.timeseries import TimeSeriesStore, store_for
from cloud.timeseries.rollup import RollupJob
from protocol.backoff import Backoff
from protocol.broker import BrokerUrl, explain_connect_error
from protocol.topics import Channel, shared, subscription

log = logging.getLogger(__name__)

#: The longest wait between reconnect attempts: a broker back after an outage has a
#: worker again within this (each attempt is one TCP connect, cheap for the broker).
RECONNECT_MAX_S = 2.0

SHARED_CHANNELS = (Channel.DATA, Channel.EVENT, Channel.HEALTH)
PLAIN_CHANNELS = (Channel.BIRTH, Channel.DEATH, Channel.CMD_ACK)


def subscriptions(use_shared: bool, group: str = "ingest") -> list[str]:
    out = []
    for ch in SHARED_CHANNELS:
        f = subscription(ch)
        out.append(shared(group, f) if use_shared else f)
    out.extend(subscription(ch) for ch in PLAIN_CHANNELS)
    return out


class IngestWorker:
    """One ingest worker: an MQTT client feeding an :class:`Ingest` pipeline."""

    def __init__(
        self,
        db: Database,
        tsdb: TimeSeriesStore,
        broker: BrokerUrl,
        *,
        use_shared: bool = False,
        client_id: str | None = None,
        session_expiry_s: int = 120,
        keepalive: int = 30,
        rollup_interval_s: float = 30.0,
        rollup_settle_s: float = 60.0,
        **ingest_options: object,
    ) -> None:
        self.broker = broker
        self.use_shared = use_shared
        self.client_id = client_id or f"ingest-{socket.gethostname()}-{os.getpid()}"
        self.session_expiry_s = session_expiry_s
        self.keepalive = keepalive
        self.rollup_interval_s = rollup_interval_s
        self.rollups = RollupJob(db, tsdb, settle_s=rollup_settle_s)
        self._client: aiomqtt.Client | None = None
        self.ingest = Ingest(
            db,
            tsdb,
            self._publish,
            # re-mark an hour at most every 10 s, always well inside the job's settle time
            remark_after_s=min(10.0, rollup_settle_s / 2) if rollup_interval_s > 0 else 0.0,
            worker=self.client_id,
            **ingest_options,  # type: ignore[arg-type]
        )
        self.connected = asyncio.Event()
        #: reconnect delays; reset once a session is subscribed
        self.backoff = Backoff(0.2, RECONNECT_MAX_S)

    async def _publish(self, topic: str, payload: bytes) -> None:
        client = self._client
        if client is None:
            raise ConnectionError(
                "not connected to the broker; the ack is not sent (gateway resends)"
            )
        await client.publish(topic, payload, qos=1)

    async def run(self) -> None:
        writer = asyncio.create_task(self.ingest.run_writer(), name="ingest-writer")
        background = [writer]
        if self.rollup_interval_s > 0:
            background.append(
                asyncio.create_task(self.rollups.run(self.rollup_interval_s), name="rollups")
            )
        try:
            while True:
                try:
                    await self._session()
                except aiomqtt.MqttError as exc:
                    self.connected.clear()
                    delay = self.backoff.next()
                    log.warning(
                        "broker %s: %s; reconnecting in %.1fs",
                        self.broker.redacted(),
                        explain_connect_error(exc, self.broker.ca_file),
                        delay,
                    )
                    await asyncio.sleep(delay)
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _session_options(self) -> dict[str, Any]:
        """A persistent MQTT 5 session for a shared subscription (the broker queues the
        group's messages for this worker while it is away, until the session expires);
        a clean MQTT 3.1.1 session otherwise (the demo's amqtt speaks 3.1.1 only, and a
        plain subscription's session would queue every message for a worker that may
        never come back)."""
        if not self.use_shared or self.session_expiry_s <= 0:
            return {"clean_session": True}
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        return {
            "protocol": aiomqtt.ProtocolVersion.V5,
            "clean_start": False,
            "properties": props,
        }

    async def _session(self) -> None:
        async with aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
            identifier=self.client_id,
            keepalive=self.keepalive,
            tls_context=self.broker.ssl_context(),  # mqtts://: DEHONG_MQTT_CA_FILE, ...
            max_queued_outgoing_messages=10_000,
            **self._session_options(),
        ) as client:
            self._client = client
            try:
                for topic in subscriptions(self.use_shared):
                    await client.subscribe(topic, qos=1)
                log.info("ingest connected to %s as %s", self.broker.redacted(), self.client_id)
                self.backoff.reset()
                self.connected.set()
                async for message in client.messages:
                    payload = message.payload
                    if not isinstance(payload, bytes | bytearray):
                        payload = str(payload or "").encode()
                    await self.ingest.handle(message.topic.value, bytes(payload))
            finally:
                self._client = None
                self.connected.clear()


async def open_backends(settings: Settings) -> tuple[Database, TimeSeriesStore]:
    db = Database(settings.database_url)
    tsdb = store_for(settings)
    await tsdb.open()
    return db, tsdb


def ingest_options(settings: Settings) -> dict[str, int]:
    """The pipeline's tuning from the settings (``DEHONG_INGEST_*``)."""
    return {
        "write_concurrency": settings.ingest_write_concurrency,
        "write_points": settings.ingest_write_points,
        "max_queued_points": settings.ingest_max_queued_points,
        "max_devices_per_gateway": settings.ingest_max_devices_per_gateway,
    }


def client_id(settings: Settings) -> str:
    """``DEHONG_INGEST_CLIENT_ID``, else ``ingest-{host}-{metrics port}``: stable across
    restarts (the session is resumed) and distinct per worker on a host (two workers
    cannot serve one port). Without a fixed metrics port: ``ingest-{host}-{pid}``, a
    new session on each start."""
    if settings.ingest_client_id:
        return settings.ingest_client_id
    if settings.ingest_metrics_port > 0:
        return f"ingest-{socket.gethostname()}-{settings.ingest_metrics_port}"
    log.warning(
        "no DEHONG_INGEST_CLIENT_ID and no fixed metrics port: this worker's broker session "
        "is not resumed after a restart"
    )
    return f"ingest-{socket.gethostname()}-{os.getpid()}"


async def main(
    settings: Settings, *, ready: Callable[[IngestWorker], Awaitable[None]] | None = None
) -> int:
    """Run one ingest worker until cancelled; serve its ``/metrics`` unless the port is -1."""
    # one line per time-series request would cost more than the request itself
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        check_settings(settings, jwt=False)
        if settings.ingest_metrics_port >= 0:
            check_listener(settings.ingest_metrics_host, settings.metrics_token.get_secret_value())
    except ValueError as exc:  # WeakSecretError too
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    db, tsdb = await open_backends(settings)
    worker = IngestWorker(
        db,
        tsdb,
        settings.mqtt_broker(),
        use_shared=settings.mqtt_shared,
        client_id=client_id(settings),
        session_expiry_s=settings.ingest_session_expiry_s,
        rollup_interval_s=settings.rollup_interval_s,
        rollup_settle_s=settings.rollup_settle_s,
        **ingest_options(settings),
    )
    metrics: MetricsServer | None = None
    try:
        if settings.ingest_metrics_port >= 0:
            metrics = MetricsServer(
                worker.ingest.metrics.registry(worker.client_id),
                settings.ingest_metrics_host,
                settings.ingest_metrics_port,
                token=settings.metrics_token.get_secret_value(),
            )
            await metrics.start()
            print(f"metrics: http://{metrics.host}:{metrics.port}/metrics", flush=True)
        if ready is not None:
            await ready(worker)
        await worker.run()
    finally:
        if metrics is not None:
            await metrics.stop()
        await tsdb.close()
        await db.dispose()
    return 0
