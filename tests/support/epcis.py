"""EPCIS documents and events for tests, and a capture helper for the API under test.

Identifiers are GS1 Digital Link URIs with valid check digits; :func:`gtin` and
:func:`gln` make them from a few digits.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cloud.catalog.gs1 import gs1_check_digit
from tests.support.api import ApiEnv

CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "epcis" / "examples"
DL = "https://id.gs1.org"


def gs1_examples() -> list[Path]:
    """GS1's example documents (tests/data/epcis/examples/), JSON-LD and plain JSON."""
    return sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".json", ".jsonld"))


def gtin(n: int) -> str:
    """A GTIN-14 with a valid check digit (company prefix 6901234)."""
    body = f"0690123{n:06d}"
    return body + gs1_check_digit(body)


def gln(n: int) -> str:
    body = f"690123{n:06d}"
    return body + gs1_check_digit(body)


def sscc(n: int) -> str:
    body = f"0690123{n:010d}"
    return body + gs1_check_digit(body)


def lot_uri(g: str, lot: str) -> str:
    return f"{DL}/01/{g}/10/{quote(lot, safe='-._~')}"


def lot_urn(g: str, lot: str) -> str:
    """The LGTIN EPC URN of a lot (company prefix 6901234, 7 digits)."""
    return f"urn:epc:class:lgtin:{g[1:8]}.{g[0]}{g[8:13]}.{lot}"


def place(n: int) -> dict[str, str]:
    return {"id": f"{DL}/414/{gln(n)}"}


def object_event(
    classes: list[str] | None = None,
    *,
    epcs: list[str] | None = None,
    event_id: str | None = None,
    time: str = "2026-11-20T08:00:00.000+08:00",
    biz_step: str = "commissioning",
    action: str = "ADD",
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "ObjectEvent"}
    if event_id is not None:
        event["eventID"] = event_id
    event.update(
        {
            "eventTime": time,
            "eventTimeZoneOffset": "+08:00",
            "epcList": epcs or [],
            "action": action,
            "bizStep": biz_step,
            "disposition": "active",
            "readPoint": place(1),
            "bizLocation": place(2),
        }
    )
    if classes:
        event["quantityList"] = [{"epcClass": c, "quantity": 1200.5, "uom": "KGM"} for c in classes]
    event.update(extra)
    return event


def document(*events: dict[str, Any], context: list[Any] | None = None) -> dict[str, Any]:
    return {
        "@context": [CONTEXT, *(context or [])],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-20T08:05:00.000+08:00",
        "epcisBody": {"eventList": list(events)},
    }


async def capture(
    env: ApiEnv,
    doc: dict[str, Any],
    headers: dict[str, str],
    *,
    behaviour: str | None = None,
) -> dict[str, Any]:
    """POST the document (202), wait for its job, and return the job."""
    h = dict(headers)
    if behaviour is not None:
        h["GS1-Capture-Error-Behaviour"] = behaviour
    r = await env.client.post("/api/v1/epcis/capture", json=doc, headers=h)
    assert r.status_code == 202, r.text
    location = r.headers["location"]
    assert location == f"/api/v1/epcis/capture/{r.json()['captureID']}"
    tasks = list(env.app.state.__dict__.get("capture_jobs", ()))
    if tasks:
        await asyncio.gather(*tasks)
    r = await env.client.get(location, headers=headers)
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["running"] is False, job
    return job


async def member(env: ApiEnv, role: Any, county: str, org_id: int | None) -> dict[str, str]:
    """Bearer headers of a new user of ``role`` in ``county``, of organisation ``org_id``."""
    import secrets

    from sqlalchemy import select

    from cloud.auth.service import issue_token
    from cloud.auth.storage import User

    name = f"{role.value}-{county}-{secrets.token_hex(3)}"
    await env.add_user(name, role, county)
    async with env.db.transaction() as s:
        user = await s.scalar(select(User).where(User.username == name))
        assert user is not None
        user.org_id = None if org_id is None else str(org_id)
    token, _ = issue_token(user, env.settings.jwt_secret.get_secret_value(), 600)
    return {"Authorization": f"Bearer {token}"}


async def add_product(env: ApiEnv, gtin14: str, org_id: int, county: str) -> int:
    """A product of our catalog (once per GTIN): lots of it may be registered."""
    from sqlalchemy import select

    from cloud.catalog.storage import Product

    async with env.db.transaction() as s:
        found = await s.scalar(select(Product.id).where(Product.gtin == gtin14))
        if found is not None:
            return int(found)
        product = Product(
            gtin=gtin14, name=f"咖啡 {gtin14}", category="coffee", org_id=org_id, county=county,
            created_by="test",
        )  # fmt: skip
        s.add(product)
        await s.flush()
        return product.id
