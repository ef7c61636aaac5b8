"""Helpers of the catalog tests: valid keys (USCC, GLN, GTIN), organisations and
organisation users made through the API or the database."""

from __future__ import annotations

import secrets
from typing import Any

from cloud.auth.principal import Role
from cloud.auth.service import issue_token
from cloud.auth.storage import User
from cloud.catalog.gs1 import gs1_check_digit
from cloud.catalog.uscc import check_char
from cloud.db import utcnow
from tests.support.api import ApiEnv

Headers = dict[str, str]


def uscc(county: str, n: int) -> str:
    body = f"91{county}MA6{n:06d}"
    return body + check_char(body)


def gln(n: int) -> str:
    body = f"690{n:09d}"
    return body + gs1_check_digit(body)


def ean13(n: int) -> str:
    body = f"692{n:09d}"
    return body + gs1_check_digit(body)


async def make_org(
    env: ApiEnv, h: Headers, county: str, n: int, kind: str = "cooperative", **extra: Any
) -> int:
    r = await env.client.post(
        "/api/v1/orgs",
        json={"kind": kind, "name": f"合作社 {n}", "uscc": uscc(county, n), "county": county,
              **extra},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def org_user(env: ApiEnv, role: Role, org_id: int | str | None, county: str) -> Headers:
    """Bearer headers of a new user of an organisation role in ``org_id``."""
    async with env.db.transaction() as s:
        user = User(
            username=f"{role.value}-{secrets.token_hex(3)}", password_hash="x", role=role.value,
            county=county, display_name="", disabled=False, created_at=utcnow(), token_version=0,
            org_id=None if org_id is None else str(org_id),
        )  # fmt: skip
        s.add(user)
    token, _ = issue_token(user, env.settings.jwt_secret.get_secret_value(), 600)
    return {"Authorization": f"Bearer {token}"}


POINT = {"type": "Point", "coordinates": [98.585, 24.433]}  # near Mangshi
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[98.5, 24.4], [98.6, 24.4], [98.6, 24.5], [98.5, 24.5], [98.5, 24.4]]],
}
