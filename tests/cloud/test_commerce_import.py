"""Importing platforms' order exports (cloud/commerce/imports.py), on SQLite and
PostgreSQL: each bad row named with its row, field and reason (mixed encodings, a
negative amount, an unknown county, a duplicate order, a date in the future), all or
nothing per file, a dry run that writes nothing, a 1 GB file refused by its declared
length before a byte is read, XLSX through openpyxl, GBK files, and no buyer's name,
phone or address anywhere in the database."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cloud.auth.principal import Role
from cloud.commerce.places import city_from_address, city_from_parts
from tests.cloud.catalog_support import ean13
from tests.cloud.commerce_cases import counts
from tests.support.api import HOME, ApiEnv, api_env
from tests.support.trace_records import add_org, add_product

API = "/api/v1/commerce"
STD = "order_id,ordered_at,status,county,sku,gtin,title,quantity,amount,dest_city\n"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


async def _shop(env: ApiEnv, h: dict[str, str], channel: str) -> int:
    org = await add_org(env, HOME, 830)
    coffee = await add_product(env, org, "0" + ean13(830_001), "coffee", "咖啡")
    r = await env.client.post(f"{API}/shops", headers=h, json={
        "channel": channel, "platform_shop_id": f"{channel}-imp", "name": "店", "org_id": org.id})  # fmt: skip
    assert r.status_code == 201, r.text
    sid = int(r.json()["id"])
    r = await env.client.put(f"{API}/shops/{sid}/skus", headers=h,
                             json=[{"sku": "COF-500", "product_id": coffee}])  # fmt: skip
    assert r.status_code == 200
    return sid


async def _import(env: ApiEnv, h: dict[str, str], sid: int, data: bytes, template: str,
                  **params: Any) -> Any:  # fmt: skip
    return await env.client.post(f"{API}/shops/{sid}/imports", headers=h, content=data,
                                 params={"template": template, **params})  # fmt: skip


async def test_bad_rows_are_named_and_nothing_half_imports(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    sid = await _shop(env, h, "station")
    r = await _import(env, h, sid, (STD + f"D1,2026-03-01 10:00:00,已完成,{HOME},COF-500,,,1,"
                                    "10.00,昆明市\n").encode(), "standard")  # fmt: skip
    assert r.status_code == 200 and r.json()["imported"], r.text
    good = f"G1,2026-03-02 10:00:00,交易成功,{HOME},COF-500,,咖啡,2,136.00,北京市\n"
    rows = [
        good,  # row 2: fine on its own
        f"G2,2026-03-02 11:00:00,交易成功,{HOME},COF-500,,咖啡,1,-5.00,北京市\n",  # negative
        "G3,2026-03-02 12:00:00,交易成功,999999,COF-500,,咖啡,1,5.00,北京市\n",  # county
        f"D1,2026-03-01 10:00:00,已完成,{HOME},COF-500,,,1,10.00,昆明市\n",  # duplicate
        f"G4,2099-01-01 00:00:00,交易成功,{HOME},COF-500,,咖啡,1,5.00,北京市\n",  # future
        f"G5,2026-03-02 12:00:00,发呆中,{HOME},COF-500,,咖啡,1,5.00,北京市\n",  # status
        f"G6,2026-03-02 12:00:00,已完成,{HOME},COF-500,,咖啡,1,5.001,北京市\n",  # fen
    ]
    data = (STD + "".join(rows)).encode()
    before = await counts(env)
    for dry in (True, False):
        r = await _import(env, h, sid, data, "standard", dry_run=str(dry).lower())
        report = r.json() if dry else r.json()["report"]
        assert r.status_code == (200 if dry else 422), r.text
        assert not report["imported"] and report["rows"] == 7 and report["bad_rows"] == 6
        got = {(e["row"], e["field"]): e["reason"] for e in report["errors"]}
        assert set(got) == {(3, "amount"), (4, "county"), (5, "order_id"), (6, "ordered_at"),
                            (7, "status"), (8, "amount")}, got  # fmt: skip
        assert "negative amount" in got[(3, "amount")]
        assert "unknown county code '999999'" in got[(4, "county")]
        assert "duplicate order" in got[(5, "order_id")]
        assert "in the future" in got[(6, "ordered_at")]
        assert "two decimals" in got[(8, "amount")]
        assert await counts(env) == before  # not even row 2
    r = await _import(env, h, sid, (STD + good).encode(), "standard")
    assert r.status_code == 200 and r.json()["imported"] and r.json()["orders"] == 1


async def test_mixed_encodings_are_refused_row_by_row(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    sid = await _shop(env, h, "station")
    utf8 = [f"E{i},2026-03-02 10:00:00,交易成功,{HOME},COF-500,,小粒咖啡,1,5.00,昆明市\n"
            for i in range(3)]  # fmt: skip
    gbk_row = f"E9,2026-03-02 10:00:00,交易成功,{HOME},COF-500,,小粒咖啡,1,5.00,昆明市\n"
    data = (STD + "".join(utf8)).encode("utf-8") + gbk_row.encode("gbk")
    r = await _import(env, h, sid, data, "standard", dry_run="true")
    report = r.json()
    assert report["errors"] == [{"row": 5, "field": "encoding", "reason": report["errors"][0][
        "reason"]}] and "mixed encodings: this row is GBK, the file is UTF-8" in report[
        "errors"][0]["reason"]  # fmt: skip
    # a file wholly in GBK (as Chinese Excel saves CSV) imports
    r = await _import(env, h, sid, (STD + gbk_row).encode("gbk"), "standard")
    assert r.status_code == 200 and r.json()["imported"] and r.json()["encoding"] == "gbk"
    order = (await env.client.get(f"{API}/orders", headers=h)).json()[0]
    assert order["lines"][0]["title"] == "小粒咖啡" and order["dest_city"] == "昆明市"


async def test_a_1_gb_file_is_refused_by_its_declared_length_before_it_is_read(
    env: ApiEnv,
) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    sid = await _shop(env, h, "station")
    received = []

    async def receive() -> dict[str, Any]:
        received.append(1)  # the body is never asked for
        return {"type": "http.request", "body": b"x", "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-length", str(1 << 30).encode()), (b"content-type", b"text/csv"),
               *((k.lower().encode(), v.encode()) for k, v in h.items())]  # fmt: skip
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": f"{API}/shops/{sid}/imports", "raw_path": b"",
             "query_string": b"template=standard", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("api", 80)}  # fmt: skip
    await env.app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert b"1073741824 bytes" in sent[1]["body"] and received == []


async def test_platform_templates_drop_the_buyers_personal_data(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    sid = await _shop(env, h, "taobao")
    taobao = (
        "订单编号,买家会员名,收货人姓名,联系手机,收货地址,订单创建时间,订单状态,商家编码,宝贝标题,购买数量,实付金额\n"
        '="3876512345678901",tb_lihua88,李华,13912345678,云南省 昆明市 五华区 青年路 88 号 3 栋,'
        "2026-03-03 20:15:00,交易成功,COF-500,德宏小粒咖啡 500g,2,136.00\n"
        '="3876512345678902",wang_mm,王敏,13887654321,云南省 德宏傣族景颇族自治州 芒市 勐焕路 12 号,'
        "2026/03/04 09:00,卖家已发货,GEN-SOAP,洗衣皂,1,9.90\n"
    )  # fmt: skip
    r = await _import(env, h, sid, taobao.encode("utf-8-sig"), "taobao")
    assert r.status_code == 200 and r.json()["imported"], r.text
    assert r.json()["unmapped_skus"] == ["GEN-SOAP"]
    orders = {o["platform_order_id"]: o for o in
              (await env.client.get(f"{API}/orders", headers=h)).json()}  # fmt: skip
    assert orders["3876512345678901"]["dest_city"] == "昆明市"
    assert orders["3876512345678902"]["dest_county"] == HOME  # 芒市: a parcel in
    assert orders["3876512345678901"]["amount"] == "136.00"
    # nothing of the buyers in any commerce table, in any column
    dump = []
    async with env.db.session() as s:
        for table in ("commerce_orders", "commerce_order_lines", "commerce_order_events",
                      "commerce_shops", "commerce_sku_map", "audit_log"):  # fmt: skip
            for row in await s.execute(text(f"SELECT * FROM {table}")):
                dump.append(" ".join(str(v) for v in row))
    blob = "\n".join(dump)
    for pii in ("李华", "王敏", "13912345678", "13887654321", "tb_lihua88", "wang_mm", "青年路",
                "勐焕路", "五华区"):  # fmt: skip
        assert pii not in blob, pii


async def test_xlsx_export_of_pinduoduo(env: ApiEnv) -> None:
    import openpyxl

    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    sid = await _shop(env, h, "pinduoduo")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["订单号", "订单成交时间", "订单状态", "商家编码-SKU维度", "商品", "商品数量(件)",
               "商家实收金额(元)", "收货人", "手机", "省", "市", "区", "街道"])  # fmt: skip
    from datetime import datetime

    ws.append(["260303-1", datetime(2026, 3, 3, 21, 0), "已发货", "COF-500", "咖啡", 3, 204.3,
               "张三", "13700000000", "云南省", "德宏傣族景颇族自治州", "盈江县", "平原镇 1 号"])  # fmt: skip
    ws.append(["260303-2", "2026-03-03 22:00:00", "待发货", "COF-500", "咖啡", 1, -1,
               "李四", "13700000001", "广东省", "深圳市", "南山区", "x"])  # fmt: skip
    buf = io.BytesIO()
    wb.save(buf)
    r = await _import(env, h, sid, buf.getvalue(), "pinduoduo", dry_run="true")
    assert r.json()["encoding"] == "xlsx"
    assert [(e["row"], e["field"]) for e in r.json()["errors"]] == [(3, "商家实收金额(元)")]
    ws.delete_rows(3)
    buf = io.BytesIO()
    wb.save(buf)
    r = await _import(env, h, sid, buf.getvalue(), "pinduoduo")
    assert r.status_code == 200 and r.json()["imported"], r.text
    (order,) = (await env.client.get(f"{API}/orders", headers=h)).json()
    assert order["amount"] == "204.30" and order["status"] == "shipped"
    assert order["dest_city"] == "盈江县" and order["dest_county"] == "533123"
    assert order["ordered_at"].startswith("2026-03-03T13:00:00")  # Beijing 21:00


async def test_a_template_must_match_the_shop_and_its_columns(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    sid = await _shop(env, h, "jd")
    r = await _import(env, h, sid, b"x", "taobao")
    assert r.status_code == 422 and r.json()["field"] == "query.template"
    r = await _import(env, h, sid, "订单号,下单时间\n1,2026-03-01\n".encode(), "jd", dry_run="true")
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"订单状态", "订购数量", "应付金额", "sku"} <= fields and r.json()["bad_rows"] == 1


def test_cities_of_addresses() -> None:
    assert city_from_address("云南省 德宏傣族景颇族自治州 芒市 勐焕路12号") == "芒市"
    assert city_from_address("云南省德宏傣族景颇族自治州盈江县平原镇") == "盈江县"
    assert city_from_address("上海市 浦东新区 x 路") == "上海市"
    assert city_from_address("广东省 深圳市 南山区 y") == "深圳市"
    assert city_from_parts("云南省", "德宏傣族景颇族自治州", "陇川县") == "陇川县"
    assert city_from_parts("广东省", "深圳市", "南山区") == "深圳市"


async def test_a_large_file_takes_the_bulk_path_and_keeps_every_character(env: ApiEnv) -> None:
    """60 orders: PostgreSQL writes them with COPY (cloud/commerce/drafts.py), whose text
    format must escape tabs, newlines and backslashes in titles."""
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    sid = await _shop(env, h, "station")
    odd = 'tab\there "q" back\\slash\nline 咖啡'
    rows = "".join(
        f'K{i},2026-03-02 10:00:{i % 60:02d},已完成,{HOME},COF-500,,"{odd.replace(chr(34), 2 * chr(34))}",'
        f"{1 + i % 3},{i}.5,芒市\n"
        for i in range(60)
    )
    r = await _import(env, h, sid, (STD + rows).encode(), "standard")
    assert r.status_code == 200 and r.json()["orders"] == 60, r.text
    got = (await env.client.get(f"{API}/orders", params={"limit": 100}, headers=h)).json()
    assert len(got) == 60
    by = {o["platform_order_id"]: o for o in got}
    k7 = by["K7"]
    assert k7["lines"][0]["title"] == odd and k7["amount"] == "7.50"
    assert k7["dest_county"] == HOME and k7["status"] == "completed" and k7["month"] == "2026-03"
    assert k7["lines"][0]["category"] == "coffee" and k7["lines"][0]["quantity"] == 2
    assert k7["ordered_at"].startswith("2026-03-02T02:00:07")
    again = await _import(env, h, sid, (STD + rows).encode(), "standard", dry_run="true")
    assert again.json()["bad_rows"] == 60  # every order a duplicate now
    # for real: the unique constraint refuses the write (PostgreSQL: the COPY), and the
    # report names each duplicate
    before = await counts(env)
    again = await _import(env, h, sid, (STD + rows).encode(), "standard")
    assert again.status_code == 422, again.text
    report = again.json()["report"]
    assert report["bad_rows"] == 60 and not report["imported"]
    assert "duplicate order" in report["errors"][0]["reason"]
    assert await counts(env) == before


def test_a_cell_with_a_unicode_line_separator_stays_in_its_row() -> None:
    """A UTF-8 export whose title holds U+2028 (or another character that str.splitlines
    breaks at, such as \\x1c or \\x85) is one record per CSV row: the decoder once split
    the text with splitlines, cutting such a row in two (two bad rows, a lost title)."""
    from cloud.commerce.filedecode import read_csv

    rows = "".join(f"R{i},2026-03-02 10:00:00,已完成,{HOME},COF-500,,咖啡{sep}礼盒,1,5.00,昆明市\n"
                   for i, sep in enumerate(("\u2028", "\x1c", "\x85", "\u2029")))  # fmt: skip
    sheet = read_csv((STD + rows).encode("utf-8"))
    assert [n for n, _ in sheet.rows] == [2, 3, 4, 5] and not sheet.errors
    assert [cells[6] for _, cells in sheet.rows] == [
        "咖啡\u2028礼盒", "咖啡\x1c礼盒", "咖啡\x85礼盒", "咖啡\u2029礼盒"]  # fmt: skip


def _tricky_rows() -> list[list[str]]:
    """Rows for the standard template that exercise every check's common and uncommon
    cases: guards, spaces, other time formats, bounds, signs, fen, status words."""
    ids = ["A1", '="A2"', " A3 ", "'A4", '="A 5"', "", "=A6", '="A7', "A8\n", "a" * 65, "B1"]
    times = ["2026-03-02 10:00:00", "2026/03/02 10:00", " 2026-03-02 10:00:00", "2099-01-01 00:00:00",
             "1999-12-31 23:59:59", "2026-02-30 10:00:00", "2026-03-02T10:00:00", "",
             "2026-03-02 10:00:00+00:00", "2026-12-04 20:00:00", "２０２６-03-02 10:00:00"]  # fmt: skip
    statuses = ["已完成", "Paid", " 交易成功 ", "发呆中", "", "PAID", "refunded", "待发货"]
    counties = [HOME, f" {HOME} ", "999999", "533124", "", f'="{HOME}"']
    qtys = ["1", "01", "2.0", "0", "-1", "1000000", "1000001", "x", " 3 ", "١", ""]
    amounts = ["12", "12.3", "12.34", "12.345", "-5.00", "1,234.00", "¥5", "", "5.", ".5",
               "123456789", "12\n", " 7.00 ", "NaN", "1e3"]  # fmt: skip
    skus = ["COF-500", "", " COF-500 ", '="COF-500"', "x" * 70]
    gtins = ["", "12345678", "1234567", "06901234567892", " 12345678 ", "abc"]
    titles = ["咖啡", "", '="咖啡"', "  ", "t" * 210, "tab\there"]
    cities = ["昆明市", "", " 芒市 ", "c" * 70]
    import random

    rng = random.Random(14)
    out = []
    for i in range(600):
        pick = [ids, times, statuses, counties, skus, gtins, titles, qtys, amounts, cities]
        # mostly each column's common case (its first value), else any of its cases
        row = [col[0] if rng.random() < 0.93 else rng.choice(col) for col in pick]
        row[0] = row[0] + str(i % 250) if row[0] and row[0][-1] not in '"\n ' else row[0]
        out.append(row)
    return out


@pytest.mark.parametrize("template", ["standard", "taobao", "pinduoduo"])
def test_the_column_checks_agree_with_the_row_checks(
    template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """parse_sheet checks a whole column at once by its common case and sends every
    other row to the row-by-row check: both ways give the same drafts, errors and rows
    (the row-by-row way forced for every row by patching the column checks out)."""
    from datetime import UTC, datetime

    import cloud.commerce.imports as imports
    from cloud.commerce.filedecode import Sheet
    from cloud.commerce.templates import TEMPLATES

    class Shop:
        id, county, channel, org_id = 1, HOME, "station", 1

    t = TEMPLATES[template]
    std = STD.strip().split(",")
    fields = ["order_id", "ordered_at", "status", "county", "sku", "gtin", "title", "quantity",
              "amount", "city"]  # fmt: skip
    header = [t.columns.get(f, std[i]) for i, f in enumerate(fields)]
    if template == "taobao":
        header[-1] = t.columns["address"]
    if template == "pinduoduo":
        header += ["省", "市", "区"]
    rows = []
    for n, r in enumerate(_tricky_rows(), 2):
        if template == "taobao":
            r[-1] = (
                "云南省 德宏傣族景颇族自治州 芒市 x 路",
                "上海市 浦东 y",
                "",
                "广东省深圳市南山区",
            )[n % 4]
        if template == "pinduoduo":
            r[-1] = ""
            r += [("云南省", "", "广东省")[n % 3], ("德宏傣族景颇族自治州", "深圳市", "")[n % 3],
                  ("芒市", "", "南山区")[n % 3]]  # fmt: skip
        rows.append((n, r if n % 37 else r[:-2]))  # some rows short of cells
    rows.append((len(rows) + 2, ["X1", *["1"] * (len(header) + 1)]))  # a cell too many
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

    def parse() -> Any:
        sheet = Sheet(list(header), [(n, list(c)) for n, c in rows], [], "utf-8")
        p = imports.parse_sheet(sheet, t, Shop(), now)  # type: ignore[arg-type]
        return p.drafts, p.errors, p.rows_of, p.bad_rows, p.lines

    fast = parse()
    assert fast[0] and fast[1], "the rows hold both good and bad ones"

    def every_row_slow(c: Any, rows: list[list[Any]], shop: Any, now: datetime) -> Any:
        values, _ = real(c, rows, shop, now)
        return values, bytearray(b"\x01" * len(rows))

    real = imports._fast_columns
    monkeypatch.setattr(imports, "_fast_columns", every_row_slow)
    assert parse() == fast
