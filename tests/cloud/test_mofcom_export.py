"""The MOFCOM export (cloud/services/mofcom): figures by county and month from the
commerce indicators and logistics, provider slots 未接入 until plugged, the XLSX, the
format document, bad months, ``dehong report mofcom``."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from openpyxl import load_workbook

from cloud.auth.principal import Role
from cloud.services.mofcom import providers
from cloud.services.mofcom.export import MonthError, build_export, check_month, to_xlsx
from cloud.services.mofcom.fields import SECTIONS
from tests.cloud import mofcom_support
from tests.support.api import HOME, OTHER, ApiEnv, api_env, unwired

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        await mofcom_support.build(e)
        with unwired():  # the provider slots as they read before a provider is plugged in
            yield e


def _county(doc: dict, code: str) -> dict:
    (found,) = [c for c in doc["counties"] if c["county"] == code]
    return found["sections"]


async def test_march_by_county(env: ApiEnv) -> None:
    doc = await build_export(env.db, "2026-03", now=NOW)
    assert (doc["format"], doc["version"], doc["month"]) == (
        "dehong-mofcom-export",
        "1.0",
        "2026-03",
    )
    assert doc["complete"] is True
    assert [c["county"] for c in doc["counties"]] == [
        "533103",
        "533124",
        "533123",
        "533122",
        "533100",
    ]
    home = _county(doc, HOME)
    eco = home["ecommerce"]
    assert eco["status"] == "connected"
    assert eco["figures"]["online_retail_sales"] == "128.50"
    assert eco["figures"]["order_count"] == 1 and eco["figures"]["active_shops"] == 1
    log = home["logistics"]["figures"]
    # the alarm at 00:30 on 1 March in Beijing is March's, though February's in UTC
    assert log["coldchain_alarms"] == 1 and log["tracked_trips"] == 1
    assert log["tracked_distance_km"] == 12.3
    assert _county(doc, OTHER)["logistics"]["figures"]["coldchain_alarms"] == 0
    prefecture = _county(doc, "533100")
    assert prefecture["ecommerce"]["figures"]["online_retail_sales"] == "257.00"
    assert prefecture["logistics"]["figures"]["coldchain_alarms"] == 1
    idle = _county(doc, "533122")["ecommerce"]["figures"]
    assert idle["online_retail_sales"] == "0.00" and idle["local_produce_share"] is None
    # the sections whose sources have not landed: null and 未接入, never a number
    for key in ("stations", "training", "poverty", "registry"):
        for c in doc["counties"]:
            part = c["sections"][key]
            assert (part["status"], part["status_zh"]) == ("not_connected", "未接入")
            assert set(part["figures"].values()) == {None}, part
    april = await build_export(env.db, "2026-04", now=NOW)
    assert _county(april, HOME)["logistics"]["figures"]["coldchain_alarms"] == 1
    assert _county(april, HOME)["ecommerce"]["figures"]["order_count"] == 0


async def test_a_plugged_provider_fills_its_section(env: ApiEnv) -> None:
    calls: list[tuple[str, str]] = []

    async def training(_s: object, county: str, month: str) -> dict[str, int | str | None]:
        calls.append((county, month))
        if county == "533122":
            raise RuntimeError("training database unreachable")
        return {"sessions": 2, "trainees": 40, "certificates": 38, "online_sessions": 1}

    providers.register("training", training)
    try:
        doc = await build_export(env.db, "2026-03", now=NOW)
    finally:
        providers.unregister("training")
    assert sorted(calls) == sorted((c, "2026-03") for c in ("533103", "533124", "533123", "533122"))
    got = _county(doc, HOME)["training"]
    assert got["status"] == "connected"
    assert got["figures"] == {
        "sessions": 2,
        "trainees": 40,
        "certificates": 38,
        "online_sessions": 1,
    }
    broken = _county(doc, "533122")["training"]
    assert broken["status"] == "error" and "unreachable" in broken["error"]
    assert set(broken["figures"].values()) == {None}
    # a county in error: the prefecture's sum is unknown, not a partial sum
    total = _county(doc, "533100")["training"]
    assert total["status"] == "error" and total["figures"]["sessions"] is None
    with pytest.raises(ValueError, match="takes no provider"):
        providers.register("ecommerce", training)


async def test_xlsx_has_a_sheet_per_section(env: ApiEnv) -> None:
    doc = await build_export(env.db, "2026-03", now=NOW)
    wb = load_workbook(io.BytesIO(to_xlsx(doc)))
    assert wb.sheetnames[0] == "说明 About"
    assert len(wb.sheetnames) == 1 + len(SECTIONS)
    eco = wb[wb.sheetnames[1]]
    rows = list(eco.iter_rows(values_only=True))
    assert rows[0][:4] == ("county", "name", "status", "online_retail_sales")
    assert rows[1][3] == "网络零售额"
    assert rows[2][:4] == (HOME, "芒市", "已接入", 128.5)
    stations = list(wb[wb.sheetnames[3]].iter_rows(values_only=True))
    assert stations[2][2] == "未接入" and set(stations[2][3:]) == {None}


def test_bad_months_are_named() -> None:
    for bad, why in (("2026-13", "not a month"), ("2026-1", "not a month"), ("", "not a month"),
                     ("1999-12", "before 2000"), ("2027-01", "in the future")):  # fmt: skip
        with pytest.raises(MonthError, match=why):
            check_month(bad, NOW)
    assert check_month("2026-12", NOW) == "2026-12"  # the current month: partial


async def test_api_export_is_county_scoped_and_names_bad_input(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.get(
        "/api/v1/services/mofcom/export", params={"month": "2026-03"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert [c["county"] for c in r.json()["counties"]] == [HOME]
    r = await env.client.get("/api/v1/services/mofcom/export", headers=h,
                             params={"month": "2026-03", "format": "xlsx"})  # fmt: skip
    assert r.headers["content-disposition"].endswith('mofcom-2026-03-v1.xlsx"')
    assert load_workbook(io.BytesIO(r.content)).sheetnames[0] == "说明 About"
    for month, why in (("2026-3", "not a month"), ("2099-01", "in the future")):
        r = await env.client.get(
            "/api/v1/services/mofcom/export", params={"month": month}, headers=h
        )
        assert r.status_code == 422 and r.json()["field"] == "query.month", r.text
        assert why in r.json()["detail"]


def test_format_document_names_every_field() -> None:
    text = (ROOT / "cloud" / "services" / "mofcom" / "FORMAT.md").read_text(encoding="utf-8")
    for sec in SECTIONS:
        assert f"`{sec.key}`" in text, sec.key
        for f in sec.fields:
            assert f"`{f.key}`" in text, f.key
            assert f.national in text, f.national
            if f.assumption:
                assert "ASSUMPTION" in text


async def test_cli_writes_json_and_xlsx(
    env: ApiEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dehong.cli import build_parser

    base = ["report", "mofcom", "--database-url", env.settings.database_url]
    args = build_parser().parse_args([*base, "--month", "2026-03", "--out", str(tmp_path / "out")])
    assert await args.handler(args) == 0
    doc = orjson.loads((tmp_path / "out" / "mofcom-2026-03-v1.json").read_bytes())
    assert doc["month"] == "2026-03" and len(doc["counties"]) == 5
    assert doc["counties"][0]["sections"]["ecommerce"]["figures"]["online_retail_sales"] == "128.50"
    assert (tmp_path / "out" / "mofcom-2026-03-v1.xlsx").stat().st_size > 1000
    assert "mofcom-2026-03-v1.xlsx" in capsys.readouterr().out
    args = build_parser().parse_args([*base, "--month", "2099-01"])
    assert await args.handler(args) == 2
    assert "--month: 2099-01 is in the future" in capsys.readouterr().err
    args = build_parser().parse_args([*base, "--month", "2026-03", "--push"])
    args.out = tmp_path / "out2"
    assert await args.handler(args) == 2  # no endpoint configured
    assert "DEHONG_MOFCOM_PUSH_URL" in capsys.readouterr().err
