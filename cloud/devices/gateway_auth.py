"""A gateway authenticates as itself on the HTTP API: HTTP Basic with its id and the
broker (MQTT) password it was provisioned with, checked against the same ``$7$`` hash
the broker checks. A revoked gateway is refused. Its principal has the ``gateway``
role (docs/roles.md): its own firmware assignments and nodes, nothing else.

Installed by :func:`cloud.app.create_app` as ``app.state.gateway_credentials``
(:mod:`cloud.auth.deps` calls it; the gateways' table is a floor above cloud/auth).
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.principal import Principal, Role
from cloud.auth.service import AuthError
from cloud.devices.storage import Gateway
from cloud.provisioning.mosquitto import verify_password

#: A failed check waits this long: no cheap online guessing (the password is random).
FAILURE_DELAY_S = 0.2


async def gateway_principal(session: AsyncSession, gateway_id: str, password: str) -> Principal:
    """The gateway's principal; AuthError (401) for an unknown id, a wrong password or a
    revoked gateway."""
    gw = await session.get(Gateway, gateway_id) if gateway_id and len(gateway_id) <= 48 else None
    ok = False
    if gw is not None and password:
        try:
            ok = verify_password(password, gw.mqtt_password_hash)
        except ValueError:  # a hash that is not $7$: refused, never a crash
            ok = False
    if not ok or gw is None:
        await asyncio.sleep(FAILURE_DELAY_S)
        raise AuthError("unknown gateway or wrong password")
    if gw.revoked_at is not None:
        raise AuthError(f"gateway {gw.id} is revoked")
    return Principal("gateway", gw.id, Role.GATEWAY, gw.county)
