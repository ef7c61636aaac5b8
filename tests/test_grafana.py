"""The committed Grafana dashboards (issue 14): generated from the panel catalogue and
never hand-edited (CI regenerates them and fails on drift), and checked statically:
unique panel ids and uids, grid positions inside the 24 columns without overlaps, and
data-source uids that exist in provisioning. That every query runs: tests/cloud/
test_screen_queries.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloud.commerce.screen.catalogue import BY_ID, DASHBOARDS, OVERVIEW
from cloud.commerce.screen.grafana import (
    BUILTIN_UIDS,
    FRESH_REF,
    FRESH_ROWS,
    build,
    county_dashboard,
    freshness_target,
)
from protocol.ids import COUNTY_CODES

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "grafana"
#: Grafana's grid: 30 px rows and 8 px gaps
ROW_PX = 38


def committed() -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((GRAFANA / "dashboards").glob("*.json"))
    ]


def provisioned_uids() -> set[str]:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "dehong.yaml").read_text())
    return {d["uid"] for d in doc["datasources"]}


def problems(dashboard: dict[str, Any], uids: set[str]) -> list[str]:
    """What is wrong with a dashboard (empty: nothing)."""
    out = []
    ids = [p["id"] for p in dashboard["panels"]]
    if len(ids) != len(set(ids)):
        out.append(f"duplicate panel ids {ids}")
    cells: dict[tuple[int, int], int] = {}
    for p in dashboard["panels"]:
        g = p["gridPos"]
        if g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24 or g["h"] < 1:
            out.append(f"panel {p['id']} outside the grid: {g}")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    out.append(f"panel {p['id']} overlaps panel {cells[(x, y)]} at {(x, y)}")
                    break
                cells[(x, y)] = p["id"]
            else:
                continue
            break
        for ds in [p["datasource"], *(t.get("datasource", {}) for t in p["targets"])]:
            if ds and ds["uid"] not in uids | BUILTIN_UIDS:
                out.append(f"panel {p['id']}: data source {ds['uid']} is not provisioned")
    return out


def test_committed_files_are_what_the_catalogue_generates() -> None:
    """Run `dehong grafana build` after changing the catalogue; a hand edit fails here."""
    for rel, text in build().items():
        path = GRAFANA / rel
        assert path.exists(), f"{rel} missing: run dehong grafana build"
        assert path.read_text(encoding="utf-8") == text, f"{rel} drifted: run dehong grafana build"
    assert {p.name for p in (GRAFANA / "dashboards").glob("*.json")} == {
        f"{d.uid}.json" for d in DASHBOARDS
    }


def test_dashboards_pass_the_static_checks() -> None:
    uids = provisioned_uids()
    assert uids == {"dehong-influxdb", "dehong-postgres"}
    boards = committed()
    assert len({b["uid"] for b in boards}) == len(boards)
    for b in boards:
        assert problems(b, uids) == [], b["uid"]
        assert b["timezone"] == "Asia/Shanghai"
        assert all(p["targets"] for p in b["panels"]), b["uid"]


def test_the_checks_catch_what_they_check() -> None:
    b = committed()[0]
    bad = json.loads(json.dumps(b))
    bad["panels"][1]["id"] = bad["panels"][0]["id"]
    bad["panels"][1]["gridPos"] = dict(bad["panels"][0]["gridPos"])
    bad["panels"][2]["datasource"] = {"type": "influxdb", "uid": "nope"}
    found = "\n".join(problems(bad, provisioned_uids()))
    assert "duplicate panel ids" in found and "overlaps" in found and "nope" in found


def test_the_overview_fills_a_1920x1080_kiosk_wall() -> None:
    b = next(x for x in committed() if x["uid"] == OVERVIEW.uid)
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in b["panels"])
    assert bottom * ROW_PX <= 1080, bottom
    assert b["refresh"] and b["editable"] is False


def test_every_panel_says_how_fresh_it_is() -> None:
    """Each catalogue panel of each dashboard carries its own freshness query (refId F,
    :func:`freshness_target`): a stat beside its value, any other panel in the 数据截至
    cell in its last rows (same x and width, directly under it). Whether it runs:
    tests/cloud/test_screen_queries.py."""
    for d in DASHBOARDS:
        b = next(x for x in committed() if x["uid"] == d.uid)
        by_title = {p["title"]: p for p in b["panels"] if p["title"]}
        assert len(by_title) == len(d.places), d.uid
        for place in d.places:
            p = BY_ID[place.panel]
            pj = by_title[f"{p.title_zh} · {p.title_en}"]
            want = freshness_target(p)
            if p.kind == "stat":
                assert want in pj["targets"], (d.uid, p.id)
                refs = [o["matcher"]["options"] for o in pj["fieldConfig"]["overrides"]]
                assert FRESH_REF in refs, (d.uid, p.id)
                continue
            g = pj["gridPos"]
            cells = [c for c in b["panels"] if c["gridPos"] == {
                "x": g["x"], "y": g["y"] + g["h"], "w": g["w"], "h": FRESH_ROWS}]  # fmt: skip
            assert len(cells) == 1 and cells[0]["targets"] == [want], (d.uid, p.id)
            assert cells[0]["fieldConfig"]["defaults"]["noValue"] == "陈旧 STALE"
        assert not [x for x in b["panels"] if x["title"].startswith("数据新鲜度")], "old strip"


@pytest.mark.parametrize("county", COUNTY_CODES)
def test_a_county_dashboard_reads_only_its_own_api_source(county: str) -> None:
    d = county_dashboard(county)
    uids = {t["datasource"]["uid"] for p in d["panels"] for t in p["targets"]}
    assert uids == {f"dehong-api-{county}"}
    assert problems(d, {f"dehong-api-{county}"}) == []
    for p in d["panels"]:
        for t in p["targets"]:
            assert t["url"].startswith("http://api:8080/api/v1/screen/panels/"), t["url"]
            assert "county" not in t["url"], "the key's county decides, never a parameter"


def test_grafana_reads_only_the_panels_tables() -> None:
    sql = (GRAFANA / "reader-grants.sql").read_text()
    for table in ("users", "api_keys", "audit_log", "logistics_drivers", "service_accounts"):
        assert f" {table} " not in sql
    assert "GRANT SELECT (at, county) ON scans TO grafana_reader;" in sql
    assert "GRANT SELECT ON" not in sql, "whole tables: personal columns with them"
    grants = [g for g in sql.splitlines() if g.startswith("GRANT") and "production_bases" not in g]
    for personal in ("phone", "sealed", "user_agent", "token", "lat", "lon", "password"):
        assert not [g for g in grants if personal in g], personal


def test_the_reader_columns_are_what_the_sql_reads() -> None:
    from cloud.commerce.screen.grafana import columns_read

    q = (
        'SELECT p.name AS "name", sum(ol.amount_fen) AS "value" FROM commerce_order_lines ol '
        "JOIN products p ON p.id = ol.product_id WHERE ol.month = to_char(now() AT TIME "
        "ZONE 'Asia/Shanghai', 'YYYY-MM') AND ol.counted = true AND ol.county IN ($county)"
    )
    assert columns_read(q) == {
        "commerce_order_lines": {"amount_fen", "product_id", "month", "counted", "county"},
        "products": {"name", "id"},
    }
    assert columns_read("SELECT count(*) FROM scans WHERE $__timeFilter(at)") == {"scans": {"at"}}
    with pytest.raises(ValueError, match="unqualified column name"):
        columns_read("SELECT name FROM locations l JOIN products p ON p.id = l.id")


def test_every_panel_of_a_county_dashboard_says_how_fresh_it_is() -> None:
    """A county's panels read the API (Infinity), so their freshness is the same
    answer's ``age_s`` (refId F): beside a stat's value, in the 数据截至 cell under any
    other panel; 陈旧 STALE past the panel's stale window, or with no age at all."""
    d = county_dashboard("533124")
    by_title = {p["title"]: p for p in d["panels"] if p["title"]}
    county = next(x for x in DASHBOARDS if x.uid == "dehong-county")
    assert len(by_title) == len(county.places)
    for place in county.places:
        p = BY_ID[place.panel]
        pj = by_title[f"{p.title_zh} · {p.title_en}"]
        if p.kind == "stat":
            (fresh,) = [t for t in pj["targets"] if t["refId"] == FRESH_REF]
            (over,) = [o for o in pj["fieldConfig"]["overrides"]
                       if o["matcher"]["options"] == FRESH_REF]  # fmt: skip
            field = {x["id"]: x["value"] for x in over["properties"]}
        else:
            g = pj["gridPos"]
            (cell,) = [c for c in d["panels"] if c["gridPos"] == {
                "x": g["x"], "y": g["y"] + g["h"], "w": g["w"], "h": FRESH_ROWS}]  # fmt: skip
            (fresh,) = cell["targets"]
            field = cell["fieldConfig"]["defaults"]
        assert fresh["root_selector"] == "age_s" and fresh["url"].endswith(f"/panels/{p.id}")
        assert field["unit"] == "s" and field["noValue"] == "陈旧 STALE"
        assert field["mappings"][0]["options"]["from"] == p.stale_after_s, p.id
