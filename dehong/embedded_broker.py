"""The embedded MQTT broker of ``dehong demo`` (amqtt, MQTT 3.1.1).

It enforces the same generated files as Mosquitto: the ``passwd`` file
(Mosquitto 2 ``$7$`` PBKDF2-SHA512 hashes) and the ``acl`` file (``user`` and
``topic read|write|readwrite FILTER`` lines). So the demo runs with per-gateway
credentials and topic ACLs too, not as an open broker. Files are re-read when
they change, like Mosquitto on SIGHUP.

amqtt has no shared subscriptions: the demo runs one ingest worker with plain
subscriptions.

Like our Mosquitto config (``use_username_as_clientid true``), the client id is
the username, so one gateway cannot take over another's session; and a client
whose password is wrong touches no session (amqtt would look a session up, and
with a clean start delete it, before it authenticates). Retained messages go
only to the client that just subscribed, through the ACL (amqtt sent a
connecting client the retained messages of every subscription in the broker).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import amqtt.broker
from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from cloud.provisioning.mosquitto import verify_password

log = logging.getLogger(__name__)


def _password_ok(files: AccessFiles, username: str | None, password: str | None) -> bool:
    hashed = files.passwords.get(username or "")
    if hashed is None:
        return False
    try:
        return verify_password(password or "", hashed)
    except ValueError as exc:
        log.warning("embedded broker: passwd entry of %r: %s", username, exc)
        return False


def filter_matches(pattern: str, topic: str) -> bool:
    """Does ACL filter ``pattern`` admit ``topic`` (a concrete topic or a subscription filter)?"""
    p, t = pattern.split("/"), topic.split("/")
    for i, level in enumerate(p):
        if level == "#":
            return True
        if i >= len(t):
            return False
        if t[i] == "#":
            return False  # the subscription asks for more than the ACL gives
        if level != "+" and level != t[i]:
            return False
    return len(p) == len(t)


@dataclass
class AccessFiles:
    """The parsed passwd and acl files, reloaded when their mtime changes."""

    directory: Path
    _stamp: tuple[float, float] = (-1.0, -1.0)
    passwords: dict[str, str] = field(default_factory=dict)
    read: dict[str, list[str]] = field(default_factory=dict)
    write: dict[str, list[str]] = field(default_factory=dict)

    def refresh(self) -> None:
        pw, acl = self.directory / "passwd", self.directory / "acl"
        stamp = (
            pw.stat().st_mtime if pw.exists() else 0.0,
            acl.stat().st_mtime if acl.exists() else 0.0,
        )
        if stamp == self._stamp:
            return
        self._stamp = stamp
        self.passwords = {}
        if pw.exists():
            for line in pw.read_text().splitlines():
                user, sep, hashed = line.strip().partition(":")
                if sep and not user.startswith("#"):
                    self.passwords[user] = hashed
        self.read, self.write = {}, {}
        user: str | None = None
        if acl.exists():
            for raw in acl.read_text().splitlines():
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                words = line.split(maxsplit=2)
                if words[0] == "user" and len(words) >= 2:
                    user = words[1]
                elif words[0] == "topic" and user is not None:
                    access, topic = (
                        (words[1], words[2]) if len(words) == 3 else ("readwrite", words[1])
                    )
                    if access in ("read", "readwrite"):
                        self.read.setdefault(user, []).append(topic)
                    if access in ("write", "readwrite"):
                        self.write.setdefault(user, []).append(topic)
        log.info("embedded broker: %d accounts loaded from %s", len(self.passwords), self.directory)


_FILES: dict[str, AccessFiles] = {}


def _files(directory: str) -> AccessFiles:
    files = _FILES.setdefault(directory, AccessFiles(Path(directory)))
    files.refresh()
    return files


class PasswdAuthPlugin(BaseAuthPlugin):
    @dataclass
    class Config:
        directory: str = ""

    async def authenticate(self, *, session: Session) -> bool | None:
        files = _files(self.config.directory)
        ok = _password_ok(files, session.username, session.password)
        if not ok:
            log.warning(
                "embedded broker: refused client %s (user %r)", session.client_id, session.username
            )
        return ok


class AclTopicPlugin(BaseTopicPlugin):
    @dataclass
    class Config:
        directory: str = ""

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool | None:
        if session is None or topic is None:
            return False
        files = _files(self.config.directory)
        user = session.username or ""
        table = files.write if action == Action.PUBLISH else files.read
        allowed = any(filter_matches(p, topic) for p in table.get(user, ()))
        if not allowed and action != Action.RECEIVE:
            log.warning("embedded broker: %s denied to %r on %s", action, user, topic)
        return allowed


class _SnapshotDict(dict):  # type: ignore[type-arg]
    """amqtt iterates its subscription table with awaits inside the loop (the ACL check
    of every receiver), so a client subscribing meanwhile raised "dictionary changed
    size during iteration" and killed the broker's broadcast task. Iterating a
    snapshot makes that safe; a subscription added mid-broadcast gets the next message.
    """

    def items(self):  # type: ignore[no-untyped-def, override]
        return list(super().items())

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(super().keys()))


#: plugin manager of each of our brokers -> its access directory
_BROKERS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


class _UsernameIsClientId(BrokerProtocolHandler):
    """The CONNECT reader of our brokers: before amqtt looks up (or, on a clean start,
    deletes) the session of the client id, the id becomes the username, or, when the
    password is wrong, a throwaway id (the connection is refused just after)."""

    @classmethod
    async def init_from_connect(  # type: ignore[override]
        cls, reader: Any, writer: Any, plugins_manager: Any, loop: Any = None
    ) -> tuple[BrokerProtocolHandler, Session]:
        handler, session = await super().init_from_connect(reader, writer, plugins_manager, loop)
        directory = _BROKERS.get(plugins_manager)
        if directory is not None:
            if session.username and _password_ok(
                _files(directory), session.username, session.password
            ):
                session.client_id = session.username
            else:
                session.client_id = f"refused-{secrets.token_hex(8)}"
                session.clean_session = True
        return handler, session


# amqtt.broker reads the CONNECT through this name; brokers that are not ours (not in
# _BROKERS) keep amqtt's behaviour.
amqtt.broker.BrokerProtocolHandler = _UsernameIsClientId  # type: ignore[misc]


class _DehongBroker(Broker):
    """amqtt with retained messages sent only on a client's own new subscription."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: (client id, filter) subscribed just now and not yet given its retained messages
        self._fresh: set[tuple[str, str]] = set()

    async def add_subscription(self, subscription: tuple[str, int], session: Session) -> int:
        result = await super().add_subscription(subscription, session)
        if result != 0x80 and session.client_id is not None:
            self._fresh.add((session.client_id, subscription[0]))
        return result

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        topic_filter, qos = subscription
        key = (session.client_id or "", topic_filter)
        if key not in self._fresh:
            return  # a reconnect, or someone else's subscription: MQTT sends nothing
        self._fresh.discard(key)
        handler = self._get_handler(session)
        if handler is None:
            return
        sends = []
        for topic, retained in list(self._retained_messages.items()):
            if self._matches(topic, topic_filter) and await self._topic_filtering(
                session, topic, Action.RECEIVE
            ):
                q = min(qos, retained.qos or qos)
                sends.append(handler.mqtt_publish(retained.topic, retained.data, q, retain=True))
        if sends:
            await asyncio.gather(*sends)


async def start_broker(host: str, port: int, access_dir: Path) -> Broker:
    """Start amqtt on host:port, enforcing the passwd/acl files in ``access_dir``."""
    here = __name__
    config = {
        "listeners": {
            "default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 1000}
        },
        "plugins": {
            f"{here}.PasswdAuthPlugin": {"directory": str(access_dir)},
            f"{here}.AclTopicPlugin": {"directory": str(access_dir)},
        },
    }
    broker = _DehongBroker(config)
    broker._subscriptions = _SnapshotDict()  # see _SnapshotDict
    _BROKERS[broker.plugins_manager] = str(access_dir)
    await broker.start()
    return broker
