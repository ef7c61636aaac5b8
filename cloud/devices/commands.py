"""Commands to gateways: the API publishes a ``cmd`` with an id and an expiry,
ingest records the gateway's ``cmd/ack``, and the API lists them by state.

States: ``pending`` (sent or accepted, not expired), ``expired`` (no final answer
before the expiry, or the gateway answered ``expired``), and the gateway's final
answers ``done``, ``failed``, ``rejected``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import aiomqtt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.db import Database, utcnow
from cloud.devices.commands_storage import Command
from cloud.devices.storage import Gateway
from cloud.pagination import Key, Page, PageParams, fetch_page
from protocol.broker import BrokerUrl
from protocol.codec import encode
from protocol.messages import CommandAck, CommandMessage
from protocol.topics import Channel, Topic

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[None]]
State = Literal["pending", "expired", "done", "failed", "rejected"]
OPEN = ("sent", "accepted")


def state(cmd: Command, now_ms: int) -> State:
    if cmd.status in OPEN:
        return "pending" if cmd.expires_ms > now_ms else "expired"
    return cmd.status  # type: ignore[return-value]


#: The broker takes the client id from the username (use_username_as_clientid): two
#: connections of the ``api`` account at once would end each other. One at a time.
_ONE_CONNECTION = asyncio.Lock()


class MqttPublisher:
    """Publishes one message per connection (commands are rare), as the ``api`` account."""

    def __init__(self, url: str | BrokerUrl) -> None:
        self.broker = BrokerUrl.parse(url) if isinstance(url, str) else url

    async def __call__(self, topic: str, payload: bytes) -> None:
        async with (
            _ONE_CONNECTION,
            aiomqtt.Client(
                self.broker.host,
                self.broker.port,
                username=self.broker.username,
                password=self.broker.password,
                identifier=f"api-cmd-{secrets.token_hex(4)}",
                tls_context=self.broker.ssl_context(),
            ) as client,
        ):
            await client.publish(topic, payload, qos=1)


def app_publisher(state: Any) -> Publish:
    """The app's publisher (``app.state``): a test's ``command_publisher``, else one
    :class:`MqttPublisher` to the settings' broker, made on first use."""
    pub = getattr(state, "command_publisher", None)
    if pub is None:
        pub = MqttPublisher(state.settings.mqtt_broker())
        state.command_publisher = pub
    return pub  # type: ignore[no-any-return]


async def send(
    db: Database,
    publish: Publish,
    gateway: Gateway,
    name: str,
    args: dict[str, Any],
    ttl_s: int,
    *,
    actor: str,
) -> Command:
    """Record and publish a command; raises what the publish raises (the row stays,
    expiring unanswered)."""
    now = int(time.time() * 1000)
    message = CommandMessage(
        id=f"c-{secrets.token_hex(8)}",
        name=name,
        args=args,
        issued=now,
        expires=now + ttl_s * 1000,
    )
    async with db.transaction() as s:
        cmd = Command(
            id=message.id,
            gateway_id=gateway.id,
            county=gateway.county,
            name=name,
            args=message.args,
            issued_ms=message.issued,
            expires_ms=message.expires,
            created_by=actor,
            created_at=utcnow(),
            status="sent",
        )
        s.add(cmd)
        await record(
            s,
            actor,
            "command.sent",
            f"gateway:{gateway.id}",
            gateway.county,
            {"command": message.id, "name": name, "ttl_s": ttl_s},
        )
    await publish(str(Topic(gateway.county, gateway.id, Channel.CMD)), encode(message))
    return cmd


async def record_ack(db: Database, ack: CommandAck) -> bool:
    """Store a gateway's answer to a command; False when the command is unknown."""
    async with db.transaction() as s:
        cmd = await s.get(Command, ack.id)
        if cmd is None or cmd.gateway_id != ack.gw:
            log.warning("cmd/ack %s from %s names no command sent to it", ack.id, ack.gw)
            return False
        if cmd.status not in OPEN and ack.status == "accepted":
            return True  # a late "accepted" never overrides a final answer
        cmd.status = ack.status
        cmd.ack_at = utcnow()
        cmd.detail = ack.detail
        cmd.result = ack.result
    return True


#: Newest first (cloud/pagination.py).
COMMAND_KEYS = (Key(Command.issued_ms, desc=True, kind=int), Key(Command.id, desc=True))


async def list_commands(
    session: AsyncSession, gateway_id: str, wanted: State | None, page: PageParams
) -> Page[Command]:
    now = int(time.time() * 1000)
    q = select(Command).where(Command.gateway_id == gateway_id)
    if wanted == "pending":
        q = q.where(Command.status.in_(OPEN), Command.expires_ms > now)
    elif wanted == "expired":
        q = q.where(
            (Command.status.in_(OPEN) & (Command.expires_ms <= now)) | (Command.status == "expired")
        )
    elif wanted is not None:
        q = q.where(Command.status == wanted)
    return await fetch_page(session, q, COMMAND_KEYS, page)
