"""The gateway's MQTT session (aiomqtt): birth/death, batches, write-acks, commands.

- client id = gateway id, persistent session (clean_session=False), QoS 1
  subscriptions to the gateway's own ``cmd`` and ``ack`` topics;
- last will: retained :class:`~protocol.messages.Death` (reason ``will``) with
  the session counter, which is incremented and persisted on every connect;
- on every connect: retained :class:`~protocol.messages.Birth`, then every
  pending batch is (re)sent;
- batches go out at QoS 1; a batch is forgotten only when a write-ack names it
  (the broker's PUBACK proves nothing about storage);
- reconnects with jittered exponential backoff, forever (a broker restart is
  just a reconnect);
- on a clean stop: the due batches get one last send, then a retained
  ``Death`` (reason ``shutdown``) and a graceful DISCONNECT.

Anything malformed on ``cmd`` or ``ack`` is logged with its reason and counted;
it never ends the session.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import orjson

from edge.aio import wait_event
from edge.buffer import Buffer
from edge.clock import boot_id, now_ms
from edge.config import GatewayConfig
from edge.state import StateStore
from protocol.backoff import Backoff
from protocol.broker import explain_connect_error, tls_context
from protocol.codec import ProtocolError, decode, encode
from protocol.messages import (
    SCHEMA_VERSION,
    Birth,
    CommandAck,
    CommandMessage,
    Death,
    Health,
    InventoryItem,
    WriteAck,
)
from protocol.topics import Channel, Topic

log = logging.getLogger(__name__)

#: Commands a session answers by itself when it runs without a command handler
#: (tests, tools); a gateway's full set is :class:`edge.commands.Commands`.
COMMANDS = ("ping",)


def versions() -> dict[str, str]:
    out = {"protocol": str(SCHEMA_VERSION), "python": platform.python_version()}
    for dist in ("dehong", "aiomqtt", "paho-mqtt", "pymodbus"):
        try:
            out[dist] = metadata.version(dist)[:64]
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass(slots=True)
class GatewayStats:
    """Session counters for tests, health and logs (the buffer's: ``Buffer.counters``)."""

    readings: int = 0  # values taken from drivers (not None)
    samples: int = 0
    sent: int = 0  # first sends
    resent: int = 0  # sends after a timeout or a reconnect
    acked: int = 0  # batches removed by a write-ack
    connects: int = 0
    events: int = 0  # events published
    commands: int = 0
    bad_messages: int = 0  # malformed cmd/ack payloads


class Session:
    """One gateway's MQTT session; :meth:`run` until :meth:`stop`."""

    def __init__(
        self,
        config: GatewayConfig,
        state: StateStore,
        pending: Buffer,
        inventory: Callable[[], list[InventoryItem]],
        stats: GatewayStats | None = None,
        *,
        commands: Callable[[CommandMessage], Awaitable[CommandAck]] | None = None,
        health: Callable[[], Awaitable[Health]] | None = None,
    ) -> None:
        self.config = config
        self.commands = commands
        self.health = health
        self.state = state
        self.pending = pending
        self.inventory = inventory
        self.stats = stats or GatewayStats()
        gw, county = config.gateway.id, config.gateway.county
        self.topics = {ch: str(Topic.build(county, gw, ch)) for ch in Channel}
        self.connected = asyncio.Event()
        self._stopping = asyncio.Event()
        self._client: Any = None
        self.session = state.session
        self.backoff = Backoff(config.mqtt.reconnect_min_s, config.mqtt.reconnect_max_s)

    # --------------------------------------------------------------- public

    def topic(self, channel: Channel) -> str:
        return self.topics[channel]

    def stop(self) -> None:
        """Ask :meth:`run` to flush, publish the shutdown death and disconnect."""
        self._stopping.set()

    def drop_connection(self) -> None:
        """Chaos/test hook: cut the TCP connection without DISCONNECT (the broker
        then publishes the will). The session reconnects on its own."""
        client = self._client
        sock = client._client.socket() if client is not None else None
        if sock is None:
            raise RuntimeError("not connected: nothing to drop")
        sock.shutdown(socket.SHUT_RDWR)

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff; return after :meth:`stop`."""
        import aiomqtt

        while not self._stopping.is_set():
            try:
                await self._connect_once(aiomqtt)
            except (aiomqtt.MqttError, OSError) as exc:
                why = explain_connect_error(exc, self.config.mqtt.tls.ca_file)
                log.warning("MQTT session %s: %s", self._where(), why)
            finally:
                self.connected.clear()
                self._client = None
            if self._stopping.is_set():
                break
            delay = self.backoff.next()
            log.info("MQTT: reconnecting in %.1f s", delay)
            await wait_event(self._stopping, delay)

    # -------------------------------------------------------------- internals

    def _where(self) -> str:
        host, port, tls = self.config.mqtt.endpoint()
        return f"{'mqtts' if tls else 'mqtt'}://{host}:{port} as {self.config.gateway.id}"

    def _tls_context(self) -> ssl.SSLContext | None:
        cfg = self.config.mqtt
        _, _, tls = cfg.endpoint()
        if not tls:
            return None
        return tls_context(
            cfg.tls.ca_file,
            cfg.tls.cert_file,
            cfg.tls.key_file,
            check_hostname=not cfg.tls.insecure,
            what="mqtt.tls",
        )

    def _make_client(self, aiomqtt: Any, session: int) -> Any:
        cfg = self.config.mqtt
        host, port, _ = cfg.endpoint()
        username, password = cfg.credentials()
        will = Death(gw=self.config.gateway.id, session=session, reason="will")
        return aiomqtt.Client(
            host,
            port,
            username=username,
            password=password,
            identifier=self.config.gateway.id,
            clean_session=False,
            keepalive=cfg.keepalive_s,
            timeout=cfg.timeout_s,
            will=aiomqtt.Will(self.topic(Channel.DEATH), encode(will), qos=1, retain=True),
            tls_context=self._tls_context(),
            tls_insecure=cfg.tls.insecure if cfg.tls.enabled else None,
        )

    def _birth(self) -> Birth:
        return Birth(
            gw=self.config.gateway.id,
            session=self.session,
            ts=now_ms(),
            boot=boot_id(),
            versions=versions(),
            config_hash=self.config.canonical_hash(),
            inventory=self.inventory(),
        )

    async def _connect_once(self, aiomqtt: Any) -> None:
        self.session = self.state.next_session()
        client = self._make_client(aiomqtt, self.session)
        async with client:
            self._client = client
            self.stats.connects += 1
            self.backoff.reset()
            await client.subscribe([(self.topic(Channel.CMD), 1), (self.topic(Channel.ACK), 1)])
            await client.publish(
                self.topic(Channel.BIRTH), encode(self._birth()), qos=1, retain=True
            )
            log.info("MQTT connected %s, session %d", self._where(), self.session)
            self.pending.reset_sent()
            self.connected.set()
            await self._serve(client)
            # stop requested: last sends, then the shutdown death
            await self._flush(client)
            death = Death(
                gw=self.config.gateway.id, session=self.session, ts=now_ms(), reason="shutdown"
            )
            await client.publish(self.topic(Channel.DEATH), encode(death), qos=1, retain=True)
            log.info("MQTT: published shutdown death, session %d", self.session)

    async def _serve(self, client: Any) -> None:
        """Run receiver and senders until stop (return) or a connection error (raise)."""
        stop = asyncio.create_task(self._stopping.wait(), name="mqtt-stop")
        workers = [
            asyncio.create_task(self._receive(client), name="mqtt-receive"),
            asyncio.create_task(self._send_batches(client), name="mqtt-batches"),
            asyncio.create_task(self._send_events(client), name="mqtt-events"),
        ]
        if self.health is not None:
            workers.append(asyncio.create_task(self._send_health(client), name="mqtt-health"))
        try:
            done, _ = await asyncio.wait([stop, *workers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stop, *workers):
                task.cancel()
            await asyncio.gather(stop, *workers, return_exceptions=True)
        for task in workers:
            if task in done and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        if stop not in done:
            raise aiomqtt_error("message stream ended")

    async def _flush(self, client: Any) -> None:
        for item in await self.pending.due():
            await client.publish(self.topic(Channel.DATA), item.payload, qos=1)
            self._count_send(item.attempts)
            self.pending.mark_sent(item)
        for event in self.pending.due_events():
            await client.publish(self.topic(Channel.EVENT), event.payload, qos=1)
            self.pending.mark_event_sent(event)
            self.stats.events += 1

    def _count_send(self, attempts: int) -> None:
        if attempts == 0:
            self.stats.sent += 1
        else:
            self.stats.resent += 1

    async def _send_batches(self, client: Any) -> None:
        topic = self.topic(Channel.DATA)
        while True:
            for item in await self.pending.wait_due():
                if item.id not in self.pending:
                    continue  # acked meanwhile
                await client.publish(topic, item.payload, qos=1)
                if item.attempts:
                    log.info(
                        "resent batch %s seq %d (attempt %d)", item.id, item.seq, item.attempts + 1
                    )
                self._count_send(item.attempts)
                self.pending.mark_sent(item)

    async def _send_health(self, client: Any) -> None:
        assert self.health is not None
        topic = self.topic(Channel.HEALTH)
        while True:
            await client.publish(topic, encode(await self.health()), qos=0)
            await asyncio.sleep(self.config.health_interval_s)

    async def _send_events(self, client: Any) -> None:
        topic = self.topic(Channel.EVENT)
        while True:
            for event in await self.pending.wait_events_due():
                # kept in the buffer until the cloud's write-ack names it
                await client.publish(topic, event.payload, qos=1)
                self.pending.mark_event_sent(event)
                self.stats.events += 1

    async def _receive(self, client: Any) -> None:
        ack_topic, cmd_topic = self.topic(Channel.ACK), self.topic(Channel.CMD)
        async for message in client.messages:
            topic = str(message.topic)
            payload = message.payload
            if isinstance(payload, str):
                payload = payload.encode()
            elif not isinstance(payload, bytes | bytearray):
                payload = b"" if payload is None else str(payload).encode()
            if topic == ack_topic:
                self._on_ack(bytes(payload))
            elif topic == cmd_topic:
                await self._on_command(client, bytes(payload))
            else:
                log.warning("unexpected message on %s (not subscribed here); ignored", topic)

    def _bad(self, channel: str, reason: str) -> None:
        self.stats.bad_messages += 1
        log.warning("bad message on %s ignored: %s", self.topic(Channel(channel)), reason)

    def _on_ack(self, payload: bytes) -> None:
        try:
            ack = decode(WriteAck, payload)
        except ProtocolError as exc:
            self._bad("ack", f"{exc.code}: {exc}")
            return
        if ack.gw != self.config.gateway.id:
            self._bad(
                "ack", f"write-ack is for gateway {ack.gw!r}, this is {self.config.gateway.id!r}"
            )
            return
        removed = self.pending.ack(entry.id for entry in ack.acks if entry.kind == "data")
        self.pending.ack_events(entry.id for entry in ack.acks if entry.kind == "event")
        self.stats.acked += len(removed)
        for entry in ack.acks:
            if entry.kind == "data" and entry.status != "stored":
                log.warning(
                    "cloud %s batch %s seq %d: %d stored, %d rejected (see the cloud's dead letters)",
                    entry.status,
                    entry.id,
                    entry.seq,
                    entry.stored,
                    entry.rejected,
                )

    async def _on_command(self, client: Any, payload: bytes) -> None:
        gw = self.config.gateway.id
        try:
            cmd = decode(CommandMessage, payload)
        except ProtocolError as exc:
            self._bad("cmd", f"{exc.code}: {exc}")
            command_id = _salvage_id(payload)
            if command_id is not None:
                ack = CommandAck(
                    gw=gw,
                    id=command_id,
                    ts=now_ms(),
                    status="rejected",
                    detail=f"invalid command: {exc}"[:500],
                )
                await client.publish(self.topic(Channel.CMD_ACK), encode(ack), qos=1)
            return
        self.stats.commands += 1
        now = now_ms()
        if cmd.expires <= now:
            ack = CommandAck(
                gw=gw,
                id=cmd.id,
                ts=now,
                status="expired",
                detail=f"expired {now - cmd.expires} ms ago",
            )
        elif self.commands is not None:
            ack = await self.commands(cmd)
        elif cmd.name == "ping":
            ack = CommandAck(
                gw=gw,
                id=cmd.id,
                ts=now,
                status="done",
                result={"pong": now, "session": self.session},
            )
        else:
            ack = CommandAck(
                gw=gw,
                id=cmd.id,
                ts=now,
                status="rejected",
                detail=f"unknown command {cmd.name!r}; this gateway supports: {', '.join(COMMANDS)}",
            )
        log.info("command %s %r: %s", cmd.id, cmd.name, ack.status)
        await client.publish(self.topic(Channel.CMD_ACK), encode(ack), qos=1)


def _salvage_id(payload: bytes) -> str | None:
    """The id of an invalid command, if it has a usable one (so it can be rejected)."""
    try:
        raw = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    value = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", value):
        return value
    return None


def aiomqtt_error(message: str) -> Exception:
    import aiomqtt

    return aiomqtt.MqttError(message)
