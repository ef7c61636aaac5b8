"""Poverty-alleviation links (cloud/services/poverty): GB 11643 check digit, personal
fields ciphertext at rest (raw rows read), visible only to the county's officer with
every read audited, PIPL export and erasure, links and income, and the public
aggregates' suppression attacked from the published totals."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sympy
from sqlalchemy import func, select, text

from cloud.audit.storage import AuditEntry
from cloud.auth.principal import Role
from cloud.services.poverty.idnumber import check_char, check_id_number
from cloud.services.poverty.storage import Household, HouseholdLink
from cloud.services.poverty.suppress import MIN_CELL, build, suppress
from tests.cloud.stations_cases import P, household_body, new_household, world
from tests.support.api import HOME, OTHER, ApiEnv, api_env

SECRETS = ("李示例", "13800000009", "6222020200112233445")


# the queries and the raw rows are database-specific: PostgreSQL runs in the slow set
@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])]
)
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


async def _raw_rows(env: ApiEnv, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``table`` as the database holds it (no ORM, no decryption)."""
    async with env.db.session() as s:
        return [tuple(r) for r in await s.execute(text(f"SELECT * FROM {table}"))]


def test_gb11643_check_digit() -> None:
    assert check_char("11010519491231002") == "X"  # the standard's own example
    assert check_id_number("11010519491231002x") == "11010519491231002X"
    for bad in ("110105194912310021", "11010519491331002X", "1101051949123100"):
        with pytest.raises(ValueError):
            check_id_number(bad)


async def test_household_is_ciphertext_at_rest_and_bad_id_named(env: ApiEnv) -> None:
    officer = await env.headers(Role.POVERTY_OFFICER, HOME)
    body = household_body()
    wrong = body["id_number"][:17] + ("0" if body["id_number"][17] != "0" else "1")
    r = await env.client.post(f"{P}/households", json={**body, "id_number": wrong},
                              headers=officer)  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "body.id_number", r.text
    assert "check digit" in r.json()["detail"]
    r = await env.client.post(f"{P}/households", json={**body, "village_code": "533103102999"},
                              headers=officer)  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "body.village_code"
    r = await env.client.post(f"{P}/households", json=body, headers=officer)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "李示例" and r.json()["id_number"] == body["id_number"]
    again = await env.client.post(f"{P}/households", json=body, headers=officer)
    assert again.status_code == 409 and again.json()["field"] == "body.id_number"
    plain = (*SECRETS, body["id_number"])
    rows = await _raw_rows(env, "poverty_households")
    assert rows
    for row in rows:
        text = " ".join(map(str, row))
        assert not any(p in text for p in plain), row
    sealed = [c for row in rows for c in row if isinstance(c, str) and c.startswith("pii1.")]
    assert len(sealed) == 4  # name, ID number, phone, bank account
    audit = " ".join(" ".join(map(str, r)) for r in await _raw_rows(env, "audit_log"))
    assert not any(p in audit for p in plain)
    assert "personal_fields_changed" in audit


async def test_only_the_countys_officer_reads_personal_data_each_read_audited(
    env: ApiEnv,
) -> None:
    officer = await env.headers(Role.POVERTY_OFFICER, HOME)
    r = await env.client.post(f"{P}/households", json=household_body(), headers=officer)
    hid = r.json()["id"]

    async def reads() -> int:
        async with env.db.session() as s:
            return int(await s.scalar(
                select(func.count()).where(AuditEntry.action == "pii.read",
                                           AuditEntry.target == f"household:{hid}")) or 0)  # fmt: skip

    before = await reads()
    r = await env.client.get(f"{P}/households/{hid}", headers=officer)
    assert r.json()["name"] == "李示例" and r.json()["phone"] == "13800000009"
    assert await reads() == before + 4
    for role, county in ((Role.COUNTY_ADMIN, HOME), (Role.AUDITOR, HOME),
                         (Role.PREFECTURE_ADMIN, "533100"), (Role.POVERTY_OFFICER, "533100")):  # fmt: skip
        h = await env.headers(role, county)
        r = await env.client.get(f"{P}/households/{hid}", headers=h)
        assert r.status_code == 200, (role, r.text)
        got = r.json()
        assert {got[f] for f in ("name", "id_number", "phone", "bank_account")} == {"***"}, role
        r = await env.client.get(f"{P}/households/{hid}/export", headers=h)
        assert r.status_code == 403, (role, r.text)
    assert await reads() == before + 4  # masked reads reveal nothing
    for role in (Role.OPERATOR, Role.STATION_OPERATOR, Role.DISPLAY, Role.DISPATCHER):
        h = await env.headers(role, HOME)
        assert (await env.client.get(f"{P}/households/{hid}", headers=h)).status_code == 403
    other_officer = await env.headers(Role.POVERTY_OFFICER, OTHER)
    assert (await env.client.get(f"{P}/households/{hid}",
                                 headers=other_officer)).status_code == 404  # fmt: skip


async def test_export_erase_and_retention_sweep(env: ApiEnv) -> None:
    officer = await env.headers(Role.POVERTY_OFFICER, HOME)
    w = await world(env, HOME)
    hid = (await env.client.post(f"{P}/households", json=household_body(), headers=officer)).json()["id"]  # fmt: skip
    r = await env.client.post(f"{P}/households/{hid}/links", headers=officer, json={
        "link_type": "purchase_agreement", "partner_kind": "station", "station_id": w["station"],
        "since": "2026-01", "until": "2026-06"})  # fmt: skip
    assert r.status_code == 201, r.text
    link = r.json()["links"][0]["id"]
    r = await env.client.put(f"{P}/links/{link}/income/2026-03", json={"amount": "860.5"},
                             headers=officer)  # fmt: skip
    assert r.json()["links"][0]["income"] == [{"month": "2026-03", "amount": "860.50"}]
    r = await env.client.put(f"{P}/links/{link}/income/2026-03", json={"amount": "1.005"},
                             headers=officer)  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "body.amount"
    r = await env.client.put(f"{P}/links/{link}/income/2026-07", json={"amount": "1"},
                             headers=officer)  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "path.month"
    r = await env.client.post(f"{P}/households/{hid}/links", headers=officer, json={
        "link_type": "dividend", "partner_kind": "cooperative", "station_id": w["station"],
        "since": "2026-01"})  # fmt: skip
    assert r.status_code == 422 and r.json()["field"].startswith("body")

    r = await env.client.get(f"{P}/households/{hid}/export", headers=officer)
    assert r.status_code == 200
    data = r.json()
    assert data["household"]["name"] == "李示例" and data["household"]["legal_basis"] == "consent"
    assert data["household"]["retention_until"] == "2030-12-31"
    assert data["household"]["links"][0]["income"][0]["amount"] == "860.50"

    r = await env.client.post(f"{P}/households/{hid}/erase", headers=officer,
                              json={"reason": "retention", "note": "x"})  # fmt: skip
    assert r.status_code == 409 and r.json()["field"] == "body.reason"
    r = await env.client.post(f"{P}/households/{hid}/erase", headers=officer,
                              json={"reason": "request", "note": "本人书面申请 2026-12-01"})  # fmt: skip
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["name"] is None and got["id_number"] is None and got["erased_at"]
    assert got["links"][0]["income"][0]["amount"] == "860.50"  # anonymous statistics stay
    assert (await env.client.post(f"{P}/households/{hid}/erase", headers=officer,
                                  json={"reason": "request", "note": "x"})).status_code == 409  # fmt: skip
    async with env.db.session() as s:
        hh = await s.get_one(Household, hid)
        assert hh.name_sealed is None and hh.id_number_index is None
        actions = list(await s.scalars(
            select(AuditEntry.action).where(AuditEntry.target == f"household:{hid}")))  # fmt: skip
        erased = await s.scalar(select(AuditEntry).where(AuditEntry.action == "household.erased"))
    assert {"household.created", "household.linked", "household.income", "household.exported",
            "household.erased", "pii.read"} <= set(actions)  # fmt: skip
    assert erased is not None
    assert erased.detail["personal_fields_changed"] == ["bank_account", "id_number", "name",
                                                        "phone"]  # fmt: skip
    # the same person may be recorded again (the index went with the data)
    body = household_body()
    # retention sweep: only the expired household of the caller's county
    expired, _ = await new_household(env, HOME, retention=date(2026, 1, 31))
    current, _ = await new_household(env, HOME)
    theirs, _ = await new_household(env, OTHER, retention=date(2026, 1, 31))
    r = await env.client.post(f"{P}/retention/sweep", headers=officer)
    assert r.status_code == 200 and r.json()["erased"] == [expired], r.text
    async with env.db.session() as s:
        assert (await s.get_one(Household, theirs)).erased_at is None
        assert (await s.get_one(Household, current)).erased_at is None
    assert body


# ------------------------------------------------------------------ suppression


def determined(rows: list[dict[str, Any]], cells: dict[str, str | None]) -> list[str]:
    """Attack: the published cells and the hierarchy's sums (village -> township ->
    county) as a linear system; a suppressed cell is recovered when its unit vector is
    in the row space of the system over the unknowns. Returns the recovered cells."""
    published = rows_values(rows)
    unknown = sorted(k for k, v in published.items() if v is None)
    index = {k: i for i, k in enumerate(unknown)}
    equations = []
    parents: dict[str, list[str]] = {}
    for child, parent in cells.items():
        if parent is not None:
            parents.setdefault(parent, []).append(child)
    for parent, children in parents.items():
        row = [0] * len(unknown)
        for m, sign in [(parent, 1)] + [(c, -1) for c in children]:
            if m in index:
                row[index[m]] += sign
        equations.append(row)
    if not unknown:
        return []
    a = sympy.Matrix(equations) if equations else sympy.zeros(1, len(unknown))
    rank = a.rank()
    found = []
    for k, i in index.items():
        unit = sympy.zeros(1, len(unknown))
        unit[i] = 1
        if a.col_join(unit).rank() == rank:
            found.append(k)
    return found


def rows_values(rows: list[dict[str, Any]]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for r in rows:
        key = r["village_code"] or r["township_code"] or r["county"]
        out[key] = r["households"]
    return out


def test_suppression_holds_on_random_hierarchies() -> None:
    rng = random.Random(15)
    for _ in range(100):
        data = []
        for c in ("533103", "533124"):
            for t in range(rng.randint(1, 4)):
                for v in range(rng.randint(1, 4)):
                    data.append((c, f"{c}{t:03d}000", f"{c}{t:03d}{v + 201:03d}",
                                 rng.choice([1, 2, 3, 4, 5, 6, 8, 12, 30]), 0))  # fmt: skip
        cells = suppress(build(data))
        rows = [{"county": k[:6], "township_code": k if x.level == "township" else x.parent,
                 "village_code": k if x.level == "village" else None,
                 "households": None if x.suppressed else x.households}
                for k, x in cells.items()]  # fmt: skip
        for r in rows:
            if r["village_code"] is None and len(r["township_code"] or "") != 12:
                r["township_code"] = None
        parents = {k: x.parent for k, x in cells.items()}
        assert all(x.households >= MIN_CELL for x in cells.values() if not x.suppressed)
        assert determined(rows, parents) == [], data


def test_the_attack_recovers_cells_of_primary_suppression_alone() -> None:
    """The attack works: with small cells hidden but no complements, it finds them."""
    data = [("533103", "533103102000", "533103102201", 7, 0),
            ("533103", "533103102000", "533103102202", 3, 0),
            ("533103", "533103105000", "533103105201", 8, 0)]  # fmt: skip
    cells = build(data)
    rows = [{"county": k[:6], "township_code": k if x.level == "township" else x.parent,
             "village_code": k if x.level == "village" else None,
             "households": None if x.households < MIN_CELL else x.households}
            for k, x in cells.items()]  # fmt: skip
    parents = {k: x.parent for k, x in cells.items()}
    assert determined(rows, parents) == ["533103102202"]
    cells = suppress(cells)
    rows = [{**r, "households": None if cells[r["village_code"] or r["township_code"] or
             r["county"]].suppressed else r["households"] if r["households"] is not None else
             cells[r["village_code"] or r["township_code"] or r["county"]].households}
            for r in rows]  # fmt: skip
    assert determined(rows, parents) == []


async def test_public_aggregates_resist_recovery_from_totals(env: ApiEnv) -> None:
    w = await world(env, HOME)  # one household of 弄坎村 linked to HOME's station from 2026-01
    plan = {  # village -> households linked
        "533103102201": 6,  # 遮放镇 弄坎村 (+1 of the world: 7)
        "533103102202": 3,  # 户拉村: primary
        "533103102203": 9,
        "533103105201": 8,  # 风平镇 芒里村 alone in its township: 8 = the township total
        "533103205201": 2,  # 三台山乡 勐丹村: primary; its township total too
        "533124103202": 12,  # Longchuan (the world's OTHER household: 13)
    }
    for village, n in plan.items():
        for _ in range(n):
            async with env.db.transaction() as s:
                town = village[:9] + "000"
                hh = Household(ref=f"r{random.getrandbits(60):x}", county=village[:6],
                               township_code=town, village_code=village, legal_basis="consent",
                               consent_at=date(2026, 1, 1), purpose="t",
                               retention_until=date(2030, 1, 1), created_by="t")  # fmt: skip
                s.add(hh)
                await s.flush()
                s.add(HouseholdLink(household_id=hh.id, county=hh.county, link_type="training",
                                    partner_kind="station", station_id=None, since="2026-01",
                                    created_by="t"))  # fmt: skip
    await world(env, OTHER)
    rows: list[dict[str, Any]] = []
    for level in ("village", "township", "county"):
        r = await env.client.get("/api/v1/public/poverty/aggregates",
                                 params={"level": level, "month": "2026-03"})  # fmt: skip
        assert r.status_code == 200 and r.headers["etag"]
        rows += r.json()["rows"]
    published = [x["households"] for x in rows if x["households"] is not None]
    assert published and min(published) >= MIN_CELL
    values = rows_values(rows)
    assert values["533103102202"] is None and values["533103205201"] is None  # primary
    assert values["533103205000"] is None  # its township equals it
    # complements: a second village of 遮放镇; a second township of Mangshi
    assert values["533103102201"] is None or values["533103102203"] is None
    assert values["533103105000"] is None or values["533103102000"] is None
    parents = {}
    for x in rows:
        key = x["village_code"] or x["township_code"] or x["county"]
        parents[key] = (x["township_code"] if x["village_code"] else
                        x["county"] if x["township_code"] else None)  # fmt: skip
    assert determined(rows, parents) == []
    # the same mask whatever the filter: a county filter shows the same cells
    r = await env.client.get("/api/v1/public/poverty/aggregates",
                             params={"level": "village", "month": "2026-03", "county": HOME})  # fmt: skip
    for x in r.json()["rows"]:
        assert x["households"] == values[x["village_code"]]
    assert "示例" not in r.text and w


async def test_cli_retention_sweep_and_key_rotation(
    env: ApiEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pydantic import SecretStr

    from cloud.pii import key_id_of
    from cloud.settings import get_settings
    from dehong.cli import build_parser
    from tests.support.api import PII_KEYS

    officer = await env.headers(Role.POVERTY_OFFICER, HOME)
    body = household_body()
    hid = (await env.client.post(f"{P}/households", json=body, headers=officer)).json()["id"]
    expired, _ = await new_household(env, OTHER, retention=date(2026, 1, 31))
    monkeypatch.setenv("DEHONG_DATABASE_URL", env.settings.database_url)
    monkeypatch.setenv("DEHONG_PII_KEYS", PII_KEYS)
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    get_settings.cache_clear()

    async def dehong(*args: str) -> tuple[int, str, str]:
        ns = build_parser().parse_args(["poverty", *args])
        code = await ns.handler(ns)
        out = capsys.readouterr()
        return code, out.out, out.err

    try:
        code, out, err = await dehong("retention-sweep", "--today", "2026-02-01")
        assert code == 0 and out.strip() == f"erased=1 households={expired}", (out, err)
        code, out, _ = await dehong("retention-sweep", "--today", "2026-02-01")
        assert out.strip() == "erased=0"
        assert (await dehong("retention-sweep", "--today", "1 Feb"))[0] == 1
        new = "t2:" + "B" * 43 + "="
        monkeypatch.setenv("DEHONG_PII_KEYS", f"{new},{PII_KEYS}")
        get_settings.cache_clear()
        code, out, err = await dehong("pii-rewrap")
        assert code == 0 and out.strip() == "households=1", (out, err)  # the erased has none
        assert (await dehong("pii-rewrap"))[1].strip() == "households=0"
        async with env.db.session() as s:
            hh = await s.get_one(Household, hid)
        assert hh.name_sealed is not None and key_id_of(hh.name_sealed) == "t2"
        # only the new key: the officer still reads it, and the ID number stays unique
        env.settings.pii_keys = SecretStr(new)
        r = await env.client.get(f"{P}/households/{hid}", headers=officer)
        assert r.json()["name"] == "李示例", r.text
        r = await env.client.post(f"{P}/households", json=body, headers=officer)
        assert r.status_code == 409 and r.json()["field"] == "body.id_number"
    finally:
        get_settings.cache_clear()
