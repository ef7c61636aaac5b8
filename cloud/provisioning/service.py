"""Provision gateways and the cloud's own broker accounts; keep Mosquitto's files in step.

Only Mosquitto ``$7$`` hashes are stored; a password is returned once, to the
caller that created it. After every change the passwd and acl files are
regenerated from the database (so they are always the whole truth, never
patched) and the broker is made to reread them
(:func:`cloud.provisioning.mosquitto.reload_broker`). A revocation whose broker
update failed raises :class:`BrokerNotUpdated` (the API answers 503): the
registry has it, so ingest refuses the gateway's batches, but the broker still
lets it in until it reloads.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.db import Database
from cloud.db.base import utcnow
from cloud.devices.storage import Gateway
from cloud.provisioning import mosquitto
from cloud.provisioning.mosquitto import SERVICE_ROLES, Account
from cloud.provisioning.storage import ServiceAccount
from cloud.settings import Settings
from protocol.ids import COUNTY_CODES, GATEWAY_ID_RE, check_owning_county

log = logging.getLogger(__name__)

SITE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SERVICE_NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{1,47}$")


class ProvisioningError(ValueError):
    """Bad input for provisioning; ``field`` names it, the message says what to do."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class ConflictError(ProvisioningError):
    """The id or name is taken."""


class NotFoundError(ProvisioningError):
    pass


class BrokerNotUpdated(RuntimeError):
    """The registry changed but the broker was not made to reread its files."""

    def __init__(self, message: str, gateway: Gateway | None = None) -> None:
        super().__init__(message)
        self.gateway = gateway


@dataclass(frozen=True, slots=True)
class BrokerSync:
    """What :func:`sync_mosquitto` did: the files written and whether the broker reread them."""

    passwd: Path
    acl: Path
    reloaded: bool
    #: how the broker was reloaded, or why it was not
    detail: str


# ------------------------------------------------------------------- gateways


def slugify(name: str) -> str:
    """``"Mangshi Coffee Co-op #2"`` -> ``"mangshi-coffee-co-op-2"`` (a-z, 0-9, '-', <= 48)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:48].rstrip("-")


async def _id_taken(session: AsyncSession, ident: str) -> bool:
    return (
        await session.get(Gateway, ident) is not None
        or await session.get(ServiceAccount, ident) is not None
    )


async def _derive_id(session: AsyncSession, county: str, name: str) -> str:
    base = slugify(name)
    if len(base) < 2:  # e.g. a name in Chinese only
        base = f"gw-{county}-{secrets.token_hex(3)}"
    candidate = base
    n = 2
    while await _id_taken(session, candidate):
        suffix = f"-{n}"
        candidate = base[: 48 - len(suffix)].rstrip("-") + suffix
        n += 1
    return candidate


async def provision_gateway(
    db: Database,
    county: str,
    name: str,
    site: str | None = None,
    gateway_id: str | None = None,
    *,
    actor: str = "system",
    settings: Settings | None = None,
) -> tuple[Gateway, str]:
    """Register a gateway and return it with its MQTT password (shown once, never stored).

    The gateway's broker username is its id. ``gateway_id`` defaults to a slug of
    ``name``; ``site`` defaults to the id. With ``settings``, Mosquitto's files in
    ``settings.mosquitto_dir`` are regenerated and the broker reloaded.
    """
    try:
        check_owning_county(county)
    except ValueError as exc:
        raise ProvisioningError(str(exc), "county") from None
    name = name.strip()
    if not name or len(name) > 200:
        raise ProvisioningError("name: give 1-200 characters", "name")
    if gateway_id is not None and not GATEWAY_ID_RE.match(gateway_id):
        raise ProvisioningError(
            f"invalid gateway id {gateway_id!r}: use 2-48 characters of a-z, 0-9 and '-', "
            "starting with a letter or digit",
            "id",
        )
    if site is not None and not SITE_RE.match(site):
        raise ProvisioningError(
            f"invalid site {site!r}: use 1-64 characters of A-Z a-z 0-9 _ -, "
            "starting with a letter or digit",
            "site",
        )
    password = mosquitto.new_password()
    async with db.transaction() as session:
        if gateway_id is None:
            gateway_id = await _derive_id(session, county, name)
        elif await _id_taken(session, gateway_id):
            raise ConflictError(f"gateway id {gateway_id!r} is taken; choose another id", "id")
        gw = Gateway(
            id=gateway_id,
            county=county,
            name=name,
            site=site or gateway_id,
            mqtt_password_hash=mosquitto.hash_password(password),
            created_at=utcnow(),
            revoked_at=None,
            birth_session=-1,
            death_session=-1,
            versions={},
            inventory=[],
        )
        session.add(gw)
        await session.flush()
        await record(
            session, actor, "gateway.provisioned", f"gateway:{gateway_id}", county,
            {"name": name, "site": gw.site},
        )  # fmt: skip
    if settings is not None:
        await sync_mosquitto(db, settings)
    return gw, password


async def revoke_gateway(
    db: Database, gateway_id: str, *, actor: str = "system", settings: Settings | None = None
) -> Gateway:
    """Revoke a gateway: it leaves the passwd and acl files; its history stays.

    With ``settings`` the broker is reloaded (which also ends the gateway's live
    session); when that fails, :class:`BrokerNotUpdated` is raised after the
    revocation is recorded. Calling again retries the broker update.
    """
    async with db.transaction() as session:
        gw = await session.get(Gateway, gateway_id)
        if gw is None:
            raise NotFoundError(f"gateway {gateway_id!r} not found", "id")
        if gw.revoked_at is None:
            gw.revoked_at = utcnow()
            await record(session, actor, "gateway.revoked", f"gateway:{gateway_id}", gw.county, {})
    if settings is not None:
        sync = await sync_mosquitto(db, settings)
        if not sync.reloaded:
            raise BrokerNotUpdated(
                f"gateway {gateway_id!r} is revoked in the registry (ingest refuses its "
                "batches within 10 s), but the broker was not updated: "
                f"{sync.detail}. It can still connect until Mosquitto rereads {sync.passwd}; "
                "retry, or reload the broker (docker compose kill -s HUP mosquitto)",
                gw,
            )
    return gw


async def rotate_gateway(
    db: Database, gateway_id: str, *, actor: str = "system", settings: Settings | None = None
) -> tuple[Gateway, str]:
    """A new broker password for a gateway (returned once); the old one stops working
    when the broker rereads its files."""
    password = mosquitto.new_password()
    async with db.transaction() as session:
        gw = await session.get(Gateway, gateway_id)
        if gw is None:
            raise NotFoundError(f"gateway {gateway_id!r} not found", "id")
        if gw.revoked_at is not None:
            raise ConflictError(
                f"gateway {gateway_id!r} is revoked; provision a new gateway instead", "id"
            )
        gw.mqtt_password_hash = mosquitto.hash_password(password)
        await record(session, actor, "gateway.rotated", f"gateway:{gateway_id}", gw.county, {})
    if settings is not None:
        await sync_mosquitto(db, settings)
    return gw, password


# ----------------------------------------------------------- service accounts


async def ensure_service_account(
    db: Database,
    name: str,
    role: str,
    *,
    reset: bool = False,
    actor: str = "system",
    settings: Settings | None = None,
) -> str | None:
    """Make sure the broker account ``name`` with ``role`` (``ingest`` | ``api``) exists.

    Returns the new password when it was created (or ``reset``), else ``None``: the
    password of an existing account is not known any more. With ``settings`` the
    Mosquitto files are regenerated when something changed.
    """
    if role not in SERVICE_ROLES:
        raise ProvisioningError(
            f"unknown service role {role!r}; one of {', '.join(SERVICE_ROLES)}", "role"
        )
    if not SERVICE_NAME_RE.match(name):
        raise ProvisioningError(
            f"invalid service account name {name!r}: 2-48 of a-z 0-9 _ . -, starting with a letter",
            "name",
        )
    password: str | None = None
    async with db.transaction() as session:
        row = await session.get(ServiceAccount, name)
        if row is None:
            if await session.get(Gateway, name) is not None:
                raise ConflictError(
                    f"{name!r} is a gateway's broker username; choose another", "name"
                )
            password = mosquitto.new_password()
            session.add(
                ServiceAccount(
                    name=name,
                    role=role,
                    mqtt_password_hash=mosquitto.hash_password(password),
                    created_at=utcnow(),
                )
            )
            await record(
                session,
                actor,
                "service_account.created",
                f"service:{name}",
                "533100",
                {"role": role},
            )
        elif row.role != role:
            raise ConflictError(
                f"service account {name!r} exists with role {row.role!r}, not {role!r}", "role"
            )
        elif reset:
            password = mosquitto.new_password()
            row.mqtt_password_hash = mosquitto.hash_password(password)
            await record(
                session, actor, "service_account.reset", f"service:{name}", "533100", {"role": role}
            )
    if password is not None and settings is not None:
        await sync_mosquitto(db, settings)
    return password


# ----------------------------------------------------------- Mosquitto files


async def broker_accounts(session: AsyncSession) -> list[Account]:
    """Every account the broker should know: unrevoked gateways and the service accounts."""
    gateways = (
        await session.execute(select(Gateway).where(Gateway.revoked_at.is_(None)))
    ).scalars()
    services = (await session.execute(select(ServiceAccount))).scalars()
    out = [
        Account(g.id, g.mqtt_password_hash, county=g.county)
        for g in gateways
        if g.county in COUNTY_CODES
    ]
    out.extend(Account(s.name, s.mqtt_password_hash, role=s.role) for s in services)
    return out


def _open_lock(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    return os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)


@asynccontextmanager
async def _file_lock(directory: Path) -> AsyncIterator[None]:
    """Serialize regenerations (across processes too: the CLI and the API)."""
    fd = await asyncio.to_thread(_open_lock, directory)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


async def sync_mosquitto(db: Database, settings: Settings) -> BrokerSync:
    """Regenerate passwd and acl in ``settings.mosquitto_dir`` from the database and
    make the broker reread them. A broker not reloaded is logged and reported in the
    result (``reloaded=False``), never silent."""
    directory = Path(settings.mosquitto_dir)
    group = mosquitto.broker_group(settings.mosquitto_group)
    async with _file_lock(directory):
        async with db.session() as session:
            accounts = await broker_accounts(session)
        passwd, acl = await asyncio.to_thread(
            partial(mosquitto.write_files, directory, accounts, group=group)
        )
        # Still under the lock: reload requests and their confirmations do not interleave.
        try:
            how = await mosquitto.reload_broker(
                settings.mosquitto_reload,
                directory,
                settings.mosquitto_pid_file,
                timeout_s=settings.mosquitto_reload_timeout_s,
            )
        except mosquitto.BrokerNotReloaded as exc:
            log.warning("Mosquitto files in %s rewritten, broker NOT reloaded: %s", directory, exc)
            return BrokerSync(passwd, acl, False, str(exc))
    return BrokerSync(passwd, acl, True, how)
