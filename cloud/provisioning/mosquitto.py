"""Mosquitto 2.0 password and ACL files, generated in Python, and the broker config.

The broker is only a transport, but its ACL is what ties a topic to the
credentials that sent it: a gateway may publish only under
``dh/v1/{county}/{gateway}/`` and read only its own ``cmd`` and ``ack``.

- :func:`hash_password` makes the ``$7$`` (PBKDF2-HMAC-SHA512) hash that
  ``mosquitto_passwd`` of Mosquitto 2.0 writes.
- :func:`render_passwd` / :func:`render_acl` produce the two files,
  :func:`write_files` writes them atomically, :func:`reload_broker` sends SIGHUP.
- :func:`render_mosquitto_conf` renders our one broker config with the given
  port and paths; ``deploy/mosquitto/mosquitto.conf`` is the same config for
  docker-compose, and a test checks that both agree on every other setting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import signal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cloud.fsutil import write_atomic
from protocol.limits import DEFAULT_LIMITS
from protocol.topics import GATEWAY_PUBLISHES, GATEWAY_SUBSCRIBES, PREFIX, Channel

log = logging.getLogger(__name__)

PASSWD_FILE = "passwd"
ACL_FILE = "acl"

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
    """Check ``password`` against a ``$7$`` hash (ours or one from ``mosquitto_passwd``)."""
    parts = hashed.split("$")
    # "", "7", iterations, salt, hash
    if len(parts) != 5 or parts[0] != "" or parts[1] != "7":
        raise ValueError(f"not a Mosquitto $7$ hash: {hashed[:12]!r}...")
    iterations = int(parts[2])
    salt = base64.b64decode(parts[3])
    expected = base64.b64decode(parts[4])
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


def write_files(
    directory: Path,
    accounts: Sequence[Account],
    *,
    passwd_mode: int = 0o600,
    acl_mode: int = 0o640,
) -> tuple[Path, Path]:
    """Write ``passwd`` and ``acl`` into ``directory`` atomically (tmp, fsync, rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    passwd = directory / PASSWD_FILE
    acl = directory / ACL_FILE
    # ACL first: a new user only becomes able to connect once the passwd file names it.
    write_atomic(acl, render_acl(accounts).encode(), acl_mode)
    write_atomic(passwd, render_passwd(accounts).encode(), passwd_mode)
    return passwd, acl


def reload_broker(pid_file: Path | None) -> bool:
    """SIGHUP the Mosquitto whose pid is in ``pid_file`` so it rereads passwd and acl.

    Returns False (and logs why) when there is nothing to signal; a broker that is
    not running picks the files up when it starts.
    """
    if pid_file is None:
        return False
    try:
        pid = int(pid_file.read_text().strip())
    except FileNotFoundError:
        log.warning("Mosquitto pid file %s does not exist; broker not reloaded", pid_file)
        return False
    except ValueError:
        log.warning("Mosquitto pid file %s holds no pid; broker not reloaded", pid_file)
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        log.warning("no process %d (from %s); broker not reloaded", pid, pid_file)
        return False
    log.info("sent SIGHUP to Mosquitto pid %d", pid)
    return True


# ------------------------------------------------------------------- config

#: Every setting of our broker config except port and paths, in file order.
#: ``deploy/mosquitto/mosquitto.conf`` must agree with this (tests/cloud checks it).
CONF_SETTINGS: tuple[tuple[str, str], ...] = (
    ("per_listener_settings", "false"),
    ("allow_anonymous", "false"),
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
#: Keys whose value is a port or a path: the only ones a deployment changes.
PATH_KEYS = frozenset(
    {
        "listener",
        "persistence_location",
        "password_file",
        "acl_file",
        "pid_file",
        "user",
        "log_dest",
    }
)


def render_mosquitto_conf(
    port: int,
    data_dir: Path,
    passwd: Path,
    acl: Path,
    pid_file: Path | None = None,
    *,
    bind: str = "127.0.0.1",
    user: str | None = None,
) -> str:
    """Our broker config with the given port and paths (tests; the demo).

    ``user``: when Mosquitto starts as root it switches to this user (default
    ``mosquitto``); tests running as root pass ``"root"`` so the broker can read
    files in a private temporary directory.
    """
    lines = ["# Rendered by cloud.provisioning.mosquitto.render_mosquitto_conf", ""]
    lines.append(f"listener {port} {bind}")
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
