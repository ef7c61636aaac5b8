"""The embedded MQTT broker of ``dehong demo`` (amqtt, MQTT 3.1.1).

It enforces the same generated files as Mosquitto: the ``passwd`` file
(Mosquitto 2 ``$7$`` PBKDF2-SHA512 hashes) and the ``acl`` file (``user`` and
``topic read|write|readwrite FILTER`` lines). So the demo runs with per-gateway
credentials and topic ACLs too, not as an open broker. Files are re-read when
they change, like Mosquitto on SIGHUP.

amqtt has no shared subscriptions: the demo runs one ingest worker with plain
subscriptions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from pathlib import Path

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

log = logging.getLogger(__name__)


def verify_mosquitto_hash(password: str, encoded: str) -> bool:
    """Check a password against a Mosquitto 2 ``$7$iterations$salt$hash`` entry."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3])
        expected = base64.b64decode(parts[4])
    except ValueError:
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(expected))
    return hmac.compare_digest(got, expected)


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
        hashed = files.passwords.get(session.username or "")
        ok = hashed is not None and verify_mosquitto_hash(session.password or "", hashed)
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
    broker = Broker(config)
    broker._subscriptions = _SnapshotDict()  # see _SnapshotDict
    await broker.start()
    return broker
