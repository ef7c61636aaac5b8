"""Mosquitto 2.0 password and ACL files, generated in Python, and the broker config.

The broker is only a transport, but its ACL is what ties a topic to the
credentials that sent it: a gateway may publish only under
``dh/v1/{county}/{gateway}/`` and read only its own ``cmd`` and ``ack``.

- :func:`hash_password` makes the ``$7$`` (PBKDF2-HMAC-SHA512) hash that
  ``mosquitto_passwd`` of Mosquitto 2.0 writes.
- :func:`render_passwd` / :func:`render_acl` produce the two files,
  :func:`write_files` writes them atomically (readable by the broker's group,
  never by others), :func:`reload_broker` makes the broker reread them.
- :func:`render_mosquitto_conf` renders our one broker config with the given
  port and paths; ``deploy/mosquitto/mosquitto.conf`` is the same config for
  docker-compose, and a test checks that both agree on every other setting.

How the broker learns of new files (``DEHONG_MOSQUITTO_RELOAD``):

- ``agent``: Mosquitto runs under ``deploy/mosquitto/run.sh`` (docker-compose
  does this). The cloud writes a token to the FIFO ``reload.fifo`` in the shared
  directory; the agent sends Mosquitto SIGHUP and writes the token to
  ``reload.done``. This crosses containers with nothing shared but a volume: no
  PID namespace, no privileges. No agent listening, or no confirmation within
  the timeout, is a failure with the reason.
- ``signal``: SIGHUP to the pid in ``DEHONG_MOSQUITTO_PID_FILE`` (a broker on the
  same host, e.g. Debian's systemd unit).
- ``watch``: the broker rereads the files itself when they change (the demo's
  embedded broker); nothing to do.
- ``auto`` (default): ``agent`` when ``reload.fifo`` exists, else ``signal`` when a
  pid file is configured, else a failure that says so.

Mosquitto rechecks connected clients on a reload: a revoked gateway's live
session is closed, not only its next login refused.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import grp
import hashlib
import hmac
import logging
import os
import secrets
import signal
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cloud.fsutil import write_atomic
from protocol.limits import DEFAULT_LIMITS
from protocol.topics import GATEWAY_PUBLISHES, GATEWAY_SUBSCRIBES, PREFIX, Channel

log = logging.getLogger(__name__)

PASSWD_FILE = "passwd"
ACL_FILE = "acl"
#: The reload agent's request FIFO and its confirmation file (deploy/mosquitto/run.sh).
RELOAD_FIFO = "reload.fifo"
RELOAD_DONE = "reload.done"

ReloadMode = Literal["auto", "agent", "signal", "watch"]

#: Mosquitto 2.0's PBKDF2 parameters (``$7$``): SHA-512, 101 iterations, 12-byte salt.
HASH_ITERATIONS = 101
SALT_BYTES = 12
HASH_BYTES = 64

# ------------------------------------------------------------------ passwords


def hash_password(
    password: str, *, salt: bytes | None = None, iterations: int = HASH_ITERATIONS
) -> str:
    """The Mosquitto 2.0 ``$7$`` hash of ``password`` (what ``mosquitto_passwd`` writes)."""
    if not password:
        raise ValueError("an empty MQTT password is refused")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, HASH_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Check ``password`` against a ``$7$`` hash (ours or one from ``mosquitto_passwd``).

    The one verifier of the project (the demo's embedded broker uses it too).
    Raises ``ValueError`` naming the problem when ``hashed`` is not a ``$7$`` hash.
    """
    parts = hashed.split("$")
    # "", "7", iterations, salt, hash
    if len(parts) != 5 or parts[0] != "" or parts[1] != "7":
        raise ValueError(f"not a Mosquitto $7$ hash: {hashed[:12]!r}...")
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except (ValueError, binascii.Error):
        raise ValueError(f"malformed Mosquitto $7$ hash: {hashed[:12]!r}...") from None
    if iterations < 1 or not expected:
        raise ValueError(f"malformed Mosquitto $7$ hash: {hashed[:12]!r}...")
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(expected))
    return hmac.compare_digest(digest, expected)


def new_password() -> str:
    """A fresh random broker password (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


# ----------------------------------------------------------------- ACL rules

#: What each cloud service account may do, as (access, topic filter) pairs.
SERVICE_ROLES: dict[str, tuple[tuple[str, str], ...]] = {
    "ingest": (
        *(
            ("read", f"{PREFIX}/+/+/{c.value}")
            for c in (
                Channel.DATA,
                Channel.EVENT,
                Channel.HEALTH,
                Channel.BIRTH,
                Channel.DEATH,
                Channel.CMD_ACK,
            )
        ),
        ("write", f"{PREFIX}/+/+/{Channel.ACK.value}"),
    ),
    "api": (
        ("write", f"{PREFIX}/+/+/{Channel.CMD.value}"),
        ("read", f"{PREFIX}/+/+/{Channel.CMD_ACK.value}"),
    ),
}


@dataclass(frozen=True, slots=True)
class Account:
    """One broker user: a gateway (``county`` set) or a service account (``role`` set)."""

    username: str
    password_hash: str
    county: str | None = None
    role: str | None = None

    def rules(self) -> list[tuple[str, str]]:
        if self.county is not None:
            return gateway_rules(self.county, self.username)
        if self.role is None or self.role not in SERVICE_ROLES:
            raise ValueError(
                f"account {self.username!r}: unknown service role {self.role!r}; "
                f"one of {', '.join(SERVICE_ROLES)}"
            )
        return list(SERVICE_ROLES[self.role])


def gateway_rules(county: str, gateway: str) -> list[tuple[str, str]]:
    """A gateway writes its six outbound channels and reads its ``cmd`` and ``ack``; no more."""
    base = f"{PREFIX}/{county}/{gateway}"
    return [("write", f"{base}/{c.value}") for c in GATEWAY_PUBLISHES] + [
        ("read", f"{base}/{c.value}") for c in GATEWAY_SUBSCRIBES
    ]


def _check_username(name: str) -> None:
    if not name or any(ch in name for ch in ":\n\r \t#+"):
        raise ValueError(
            f"broker username {name!r} may not be empty or contain ':', space, '#', '+'"
        )


def render_passwd(accounts: Iterable[Account]) -> str:
    lines = []
    for a in sorted(accounts, key=lambda a: a.username):
        _check_username(a.username)
        lines.append(f"{a.username}:{a.password_hash}")
    return "".join(line + "\n" for line in lines)


def render_acl(accounts: Iterable[Account]) -> str:
    """The acl_file: no pattern rules, no anonymous topics; one block per user."""
    out = ["# Generated by dehong provisioning; do not edit, it is rewritten on every change."]
    for a in sorted(accounts, key=lambda a: a.username):
        _check_username(a.username)
        out.append("")
        out.append(f"user {a.username}")
        out.extend(f"topic {access} {topic}" for access, topic in a.rules())
    return "\n".join(out) + "\n"


# -------------------------------------------------------------------- files


def broker_group(value: str) -> int | None:
    """The gid whose members (the broker) may read passwd and acl.

    ``value``: a group name or gid; ``"auto"``: the group ``mosquitto`` if this host
    has one (Debian's package and our cloud image do), else none; ``""``: none
    (the files stay owner-only, so the broker must run as their owner).
    """
    if value == "":
        return None
    if value.isdigit():
        return int(value)
    name = "mosquitto" if value == "auto" else value
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        if value == "auto":
            return None
        raise ValueError(
            f"DEHONG_MOSQUITTO_GROUP={value!r}: no such group on this host; give the group "
            "Mosquitto runs as (name or gid), or '' to keep the files owner-only"
        ) from None


def _give_to_group(path: Path, gid: int, mode: int) -> None:
    st = path.stat()
    if st.st_gid != gid:
        try:
            os.chown(path, -1, gid)
        except PermissionError:
            raise PermissionError(
                f"cannot give {path} to group {gid}: run provisioning as root or as a member "
                "of the broker's group (DEHONG_MOSQUITTO_GROUP)"
            ) from None
    if st.st_mode & 0o7777 != mode:
        os.chmod(path, mode)


def write_files(
    directory: Path,
    accounts: Sequence[Account],
    *,
    group: int | None = None,
) -> tuple[Path, Path]:
    """Write ``passwd`` and ``acl`` into ``directory`` atomically (tmp, fsync, rename).

    With ``group`` (the broker's gid: Mosquitto started as root drops to its own
    user) the files are 0640 and the directory 2750 in that group, so the broker can
    read them and nobody else can; without, the files are 0600.
    """
    directory.mkdir(parents=True, exist_ok=True)
    passwd = directory / PASSWD_FILE
    acl = directory / ACL_FILE
    mode = 0o600 if group is None else 0o640
    if group is not None and directory.stat().st_uid == os.geteuid():
        _give_to_group(directory, group, 0o2750)
    # ACL first: a new user only becomes able to connect once the passwd file names it.
    write_atomic(acl, render_acl(accounts).encode(), mode)
    write_atomic(passwd, render_passwd(accounts).encode(), mode)
    if group is not None:
        _give_to_group(acl, group, mode)
        _give_to_group(passwd, group, mode)
    elif os.geteuid() == 0:
        log.info(
            "%s is readable by root only; a Mosquitto that drops to its own user needs "
            "DEHONG_MOSQUITTO_GROUP",
            passwd,
        )
    return passwd, acl


class BrokerNotReloaded(RuntimeError):
    """The broker was not told to reread its files; the message says why and what to do."""


def signal_broker(pid_file: Path | None) -> str:
    """SIGHUP the Mosquitto whose pid is in ``pid_file``; raises :class:`BrokerNotReloaded`."""
    if pid_file is None:
        raise BrokerNotReloaded("no DEHONG_MOSQUITTO_PID_FILE is set: there is nothing to signal")
    try:
        pid = int(pid_file.read_text().strip())
    except FileNotFoundError:
        raise BrokerNotReloaded(f"Mosquitto pid file {pid_file} does not exist") from None
    except ValueError:
        raise BrokerNotReloaded(f"Mosquitto pid file {pid_file} holds no pid") from None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise BrokerNotReloaded(f"no process {pid} (from {pid_file})") from None
    except PermissionError:
        raise BrokerNotReloaded(
            f"not allowed to signal Mosquitto pid {pid} (from {pid_file}): run as its user "
            "or use the reload agent (deploy/mosquitto/run.sh)"
        ) from None
    log.info("sent SIGHUP to Mosquitto pid %d", pid)
    return f"SIGHUP to pid {pid}"


def request_reload(fifo: Path) -> str:
    """Write one reload request to the agent's FIFO; returns its token."""
    token = secrets.token_hex(8)
    try:
        # Non-blocking: with no agent holding the FIFO open this fails at once (ENXIO)
        # instead of waiting for a reader that never comes.
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise BrokerNotReloaded(f"no reload agent: {fifo} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise BrokerNotReloaded(
                f"no reload agent is listening on {fifo} (is Mosquitto running under "
                "deploy/mosquitto/run.sh?)"
            ) from None
        raise BrokerNotReloaded(f"cannot write to {fifo}: {exc.strerror}") from None
    try:
        os.write(fd, f"{token}\n".encode())  # < PIPE_BUF: one atomic write
    finally:
        os.close(fd)
    return token


async def _agent_reload(directory: Path, timeout_s: float) -> str:
    fifo, done = directory / RELOAD_FIFO, directory / RELOAD_DONE
    token = await asyncio.to_thread(request_reload, fifo)
    deadline = time.monotonic() + timeout_s
    while True:
        # The agent confirms by replacing reload.done (rename: never half written).
        try:
            if done.read_text().strip() == token:
                return f"reload agent ({fifo})"
        except FileNotFoundError:
            pass
        if time.monotonic() >= deadline:
            raise BrokerNotReloaded(
                f"the reload agent on {fifo} did not confirm within {timeout_s:g} s"
            )
        await asyncio.sleep(0.02)


async def reload_broker(
    mode: ReloadMode,
    directory: Path,
    pid_file: Path | None,
    *,
    timeout_s: float = 5.0,
) -> str:
    """Make the broker reread passwd and acl (see the module docstring for ``mode``).

    Returns how; raises :class:`BrokerNotReloaded` with the reason when it was not.
    """
    if mode == "watch":
        return "the broker watches its files"
    if mode == "agent" or (mode == "auto" and (directory / RELOAD_FIFO).exists()):
        return await _agent_reload(directory, timeout_s)
    if mode == "signal" or (mode == "auto" and pid_file is not None):
        return await asyncio.to_thread(signal_broker, pid_file)
    raise BrokerNotReloaded(
        f"no reload agent ({directory / RELOAD_FIFO} does not exist) and no "
        "DEHONG_MOSQUITTO_PID_FILE: nothing told the broker"
    )


# ------------------------------------------------------------------- config

#: Every setting of our broker config except port and paths, in file order.
#: ``deploy/mosquitto/mosquitto.conf`` must agree with this (tests/cloud checks it).
CONF_SETTINGS: tuple[tuple[str, str], ...] = (
    ("per_listener_settings", "false"),
    ("allow_anonymous", "false"),
    # The client id is the username: gateway B cannot take gateway A's session (the
    # broker would disconnect A and hand B its queued commands and acks). So every
    # cloud worker needs a broker account of its own (ingest-1, ingest-2, ...).
    ("use_username_as_clientid", "true"),
    ("persistence", "true"),
    ("autosave_interval", "30"),
    ("persistent_client_expiration", "30d"),
    # A gateway coming back from an outage sends its backlog; the cloud's QoS 1
    # subscribers must be able to queue it without the broker dropping messages.
    ("max_queued_messages", "10000"),
    ("max_queued_bytes", "0"),
    ("max_inflight_messages", "20"),
    # protocol.limits max_payload_bytes (256 KiB) plus headroom, so the receiver,
    # not the broker, refuses an oversized payload and dead-letters it with a reason.
    ("message_size_limit", str(DEFAULT_LIMITS.max_payload_bytes + 64 * 1024)),
    ("set_tcp_nodelay", "true"),
    ("connection_messages", "true"),
    ("log_timestamp", "true"),
)
#: Keys whose value is a port or a path, or that belong to a TLS listener: the only
#: ones a deployment changes.
PATH_KEYS = frozenset(
    {
        "listener",
        "persistence_location",
        "password_file",
        "acl_file",
        "pid_file",
        "user",
        "log_dest",
        *(
            "cafile",
            "certfile",
            "keyfile",
            "require_certificate",
            "use_identity_as_username",
            "tls_version",
        ),
    }
)


@dataclass(frozen=True, slots=True)
class TlsListener:
    """A TLS listener: the server's certificate chain and the CA that signs clients.

    ``require_certificate``: demand a client certificate signed by ``cafile`` (the
    password is still checked). Off, client certificates are not asked for.
    """

    port: int
    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = False
    bind: str = "0.0.0.0"

    def lines(self) -> list[str]:
        return [
            f"listener {self.port} {self.bind}",
            f"cafile {self.cafile}",
            f"certfile {self.certfile}",
            f"keyfile {self.keyfile}",
            f"require_certificate {'true' if self.require_certificate else 'false'}",
            "tls_version tlsv1.2",
        ]


def render_mosquitto_conf(
    port: int,
    data_dir: Path,
    passwd: Path,
    acl: Path,
    pid_file: Path | None = None,
    *,
    bind: str = "127.0.0.1",
    user: str | None = None,
    tls: TlsListener | None = None,
) -> str:
    """Our broker config with the given port and paths (tests; the demo).

    ``user``: when Mosquitto starts as root it switches to this user (default
    ``mosquitto``); tests running as root pass ``"root"`` so the broker can read
    files in a private temporary directory. ``tls``: a second listener with TLS.
    """
    lines = ["# Rendered by cloud.provisioning.mosquitto.render_mosquitto_conf", ""]
    lines.append(f"listener {port} {bind}")
    if tls is not None:
        lines.extend(tls.lines())
    lines.extend(f"{k} {v}" for k, v in CONF_SETTINGS)
    lines.append(f"persistence_location {str(data_dir).rstrip('/')}/")
    lines.append(f"password_file {passwd}")
    lines.append(f"acl_file {acl}")
    if pid_file is not None:
        lines.append(f"pid_file {pid_file}")
    if user is not None:
        lines.append(f"user {user}")
    lines.append("log_dest stderr")
    return "\n".join(lines) + "\n"


def parse_conf(text: str) -> dict[str, list[str]]:
    """``key -> [values]`` of a Mosquitto config (comments and blank lines left out)."""
    out: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        out.setdefault(key, []).append(value.strip())
    return out


def settings_of(conf: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The settings of a parsed config that are not ports or paths."""
    return {k: v for k, v in conf.items() if k not in PATH_KEYS}
