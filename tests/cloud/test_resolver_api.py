"""The GS1 Digital Link resolver through the app (issue 12): canonical redirects, bilingual
400/404, link types, linkset, /.well-known/gs1resolver, the per-address rate limit, and
fuzzing of the path parser (no 5xx). Database-touching tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.catalog.storage import Organisation
from cloud.db import utcnow
from cloud.trace.certificates.kinds import beijing_date
from cloud.trace.certificates.storage import TraceCertificate, TraceCertificateProduct
from cloud.trace.lots.storage import TraceLot
from cloud.web import ratelimit
from tests.cloud.test_api_isolation_mobile import uscc
from tests.support.api import HOME, ApiEnv, api_env
from tests.support.epcis import add_product, gtin

G = gtin(1201)  # a coffee of a Mangshi co-op, in the catalog
G_LOTS_ONLY = gtin(1202)  # registered lots, no catalog product
G_UNKNOWN = gtin(1203)  # well-formed, unknown
LOT = "MS-2026/07"  # has a '/': percent-encoded in the path
LOT_PATH = "MS-2026%2F07"
HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
JSON = {"accept": "application/json"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        await seed(e)
        yield e


@pytest.fixture
async def sqlite_env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        await seed(e)
        yield e


async def seed(env: ApiEnv) -> None:
    async with env.db.transaction() as s:
        org = Organisation(
            kind="cooperative", name="芒市咖啡合作社", uscc=uscc(HOME, 5120), county=HOME,
            contact_name="张三", contact_phone="13800001234", created_at=utcnow(),
            created_by="test",
        )  # fmt: skip
        s.add(org)
        await s.flush()
        org_id = org.id
    await add_product(env, G, org_id, HOME)
    today = beijing_date(utcnow())
    async with env.db.transaction() as s:
        s.add(TraceLot(gtin=G, lot=LOT, county=HOME, org_id=org_id, created_by="test",
                       produced_on=date(2026, 7, 1)))  # fmt: skip
        s.add(TraceLot(gtin=G_LOTS_ONLY, lot="L1", county=HOME, org_id=org_id, created_by="t"))
        cert = TraceCertificate(
            type="green_food", number="LB-45-2607", holder_uscc=uscc(HOME, 5120),
            holder_org_id=org_id, holder_name="芒市咖啡合作社", county=HOME,
            valid_from=today - timedelta(days=30), valid_to=today + timedelta(days=300),
            issuer="中国绿色食品发展中心", created_by="test",
        )  # fmt: skip
        s.add(cert)
        await s.flush()
        s.add(TraceCertificateProduct(certificate_id=cert.id, gtin=G))


# ---------------------------------------------------------------------------------------
# Canonical form


@pytest.mark.parametrize(
    ("sent", "canonical"),
    [
        (f"/gtin/{G}/lot/{LOT_PATH}", f"/01/{G}/10/{LOT_PATH}"),
        (f"/01/{G[1:]}/10/{LOT_PATH}", f"/01/{G}/10/{LOT_PATH}"),  # GTIN-13
        (f"/01/{G}/10/MS%2D2026%2f07", f"/01/{G}/10/{LOT_PATH}"),  # needless and lower-case
        (f"/gtin/{G}/ser/S%31", f"/01/{G}/21/S1"),
        (f"/01/{G}/10/{LOT_PATH}/", f"/01/{G}/10/{LOT_PATH}"),  # a trailing slash tolerated
    ],
)
async def test_non_canonical_redirects_keeping_the_query(
    sqlite_env: ApiEnv, sent: str, canonical: str
) -> None:
    query = "17=261231&c=AB12CD34&linkType=gs1:certificationInfo&x=%2B1"
    r = await sqlite_env.client.get(f"{sent}?{query}", headers=HTML)
    assert r.status_code == 301, r.text
    assert r.headers["location"] == f"{canonical}?{query}"


async def test_canonical_lot_serves_the_default_trace_page(env: ApiEnv) -> None:
    r = await env.client.get(f"/01/{G}/10/{LOT_PATH}", headers=HTML)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert LOT in r.text and "芒市" in r.text
    assert 'rel="linkset"' in r.headers["link"]
    # no personal data of the producer's contact
    assert "张三" not in r.text and "13800001234" not in r.text


async def test_redirect_then_page_in_one_go(sqlite_env: ApiEnv) -> None:
    r = await sqlite_env.client.get(f"/gtin/{G}/lot/{LOT_PATH}", follow_redirects=True)
    assert r.status_code == 200
    assert str(r.url).endswith(f"/01/{G}/10/{LOT_PATH}")


# ---------------------------------------------------------------------------------------
# Bad input: 400, bilingual


@pytest.mark.parametrize(
    ("path", "field", "says"),
    [
        (f"/01/{G[:-1]}{(int(G[-1]) + 1) % 10}/10/L", "01", "check digit"),
        (f"/01/{G}/21/S/10/L", "10", "out of order"),
        (f"/01/{G}/17/261231", "17", "not allowed in the path"),
        (f"/01/{G}/10/{'A' * 21}", "10", "at most 20 characters"),
        (f"/01/{G}/10/A%20B", "10", "outside its set"),
        (f"/01/{G}/10/L?17=261332", "17", "not a valid date"),
        (f"/01/{G}/10/L?17=250229", "17", "not a valid date"),
        (f"/01/{G}?10=L", "10", "belongs in the path"),
    ],
)
async def test_bad_links_answer_400_in_both_languages(
    sqlite_env: ApiEnv, path: str, field: str, says: str
) -> None:
    r = await sqlite_env.client.get(path, headers=JSON)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["field"] == field
    assert says in body["en"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["zh"])  # Chinese
    page = await sqlite_env.client.get(path, headers=HTML)
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert "无效的商品链接" in page.text and "Invalid product link" in page.text
    assert says in page.text
    assert sqlite_env.settings.site_icp in page.text  # the shared shell's footer (ICP 备案)


async def test_date_with_day_00_is_accepted(sqlite_env: ApiEnv) -> None:
    r = await sqlite_env.client.get(f"/01/{G}/10/{LOT_PATH}?17=261200", headers=JSON)
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------------------------------
# Unknown: 404


@pytest.mark.parametrize(
    "path", [f"/01/{G_UNKNOWN}", f"/01/{G_UNKNOWN}/10/L1", f"/01/{G}/10/NOPE", f"/01/{G}/10/L1"]
)
async def test_unknown_gtin_or_lot_is_a_plain_404(env: ApiEnv, path: str) -> None:
    r = await env.client.get(path, headers=HTML)
    assert r.status_code == 404
    assert "未找到" in r.text and "Not found" in r.text
    j = await env.client.get(path + "?linkType=linkset", headers=JSON)
    assert j.status_code == 404 and "no record" in j.json()["en"]


# ---------------------------------------------------------------------------------------
# Link types


async def test_pip_shows_product_category_producer_county(env: ApiEnv) -> None:
    r = await env.client.get(f"/01/{G}/10/{LOT_PATH}?linkType=gs1:pip", headers=JSON)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["gtin"] == G and body["category"] == "coffee" and body["category_name"] == "咖啡"
    assert body["producer"] == "芒市咖啡合作社" and body["county_name"] == "芒市"
    assert "张三" not in r.text and "13800001234" not in r.text
    html_page = await env.client.get(f"/01/{G}?linkType=https://gs1.org/voc/pip", headers=HTML)
    assert html_page.status_code == 200 and "产品信息" in html_page.text
    assert "芒市咖啡合作社" in html_page.text and env.settings.site_icp in html_page.text


async def test_gtin_alone_defaults_to_pip_also_for_a_gtin_known_only_by_its_lots(
    sqlite_env: ApiEnv,
) -> None:
    r = await sqlite_env.client.get(f"/01/{G}", headers=HTML)
    assert r.status_code == 200 and "产品信息" in r.text
    r = await sqlite_env.client.get(f"/01/{G_LOTS_ONLY}", headers=JSON)
    assert r.status_code == 200 and r.json()["producer"] == "芒市咖啡合作社"


async def test_certification_info_lists_public_fields(env: ApiEnv) -> None:
    r = await env.client.get(f"/01/{G}/10/{LOT_PATH}?linkType=gs1:certificationInfo", headers=JSON)
    assert r.status_code == 200, r.text
    (cert,) = r.json()["certificates"]
    assert cert["number"] == "LB-45-2607" and cert["type_name"] == "绿色食品"
    assert cert["valid_now"] is True and "holder_uscc" not in cert
    page = await env.client.get(
        f"/01/{G}/10/{LOT_PATH}?linkType=gs1:certificationInfo", headers=HTML
    )
    assert "LB-45-2607" in page.text and "中国绿色食品发展中心" in page.text


async def test_epcis_link_redirects_to_the_lots_event_query(sqlite_env: ApiEnv) -> None:
    r = await sqlite_env.client.get(f"/01/{G}/10/{LOT_PATH}?linkType=gs1:epcis")
    assert r.status_code == 307
    klass = f"https://id.gs1.org/01/{G}/10/{LOT_PATH}"
    assert r.headers["location"] == "/api/v1/epcis/events?MATCH_anyEPCClass=" + quote(
        klass, safe=""
    )


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("linkType=linkset", {}),
        ("linkType=all", {}),
        ("c=AB12", {"accept": "application/linkset+json"}),
    ],
)
async def test_linkset(sqlite_env: ApiEnv, query: str, headers: dict[str, str]) -> None:
    r = await sqlite_env.client.get(f"/01/{G}/10/{LOT_PATH}?{query}", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/linkset+json")
    (entry,) = json.loads(r.text)["linkset"]
    base = sqlite_env.settings.public_base_url
    assert entry["anchor"] == f"{base}/01/{G}/10/{LOT_PATH}"
    for t in ("pip", "traceability", "certificationInfo", "epcis", "defaultLink"):
        assert entry[f"https://gs1.org/voc/{t}"][0]["href"], t
    trace = entry["https://gs1.org/voc/traceability"][0]["href"]
    assert trace.startswith(f"{base}/01/{G}/10/{LOT_PATH}?")
    assert "linkType=gs1:traceability" in trace
    if "c=AB12" in query:
        assert "c=AB12" in trace  # the code travels with the links
    assert entry["https://gs1.org/voc/defaultLink"][0]["href"] == trace


async def test_unknown_link_type_gets_the_default(sqlite_env: ApiEnv) -> None:
    r = await sqlite_env.client.get(f"/01/{G}/10/{LOT_PATH}?linkType=gs1:recipeInfo", headers=HTML)
    assert r.status_code == 200 and LOT in r.text


async def test_well_known_describes_the_resolver(sqlite_env: ApiEnv) -> None:
    r = await sqlite_env.client.get("/.well-known/gs1resolver")
    assert r.status_code == 200
    d = r.json()
    assert d["resolverRoot"] == sqlite_env.settings.public_base_url
    assert d["supportedPrimaryKeys"] == ["01"]
    assert d["linkTypeDefaultCanBeLinkset"] is False
    assert d["supportedLinkType"] == [{"namespace": "https://gs1.org/voc/", "prefix": "gs1:"}]
    assert d["name"]


# ---------------------------------------------------------------------------------------
# Rate limit


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _use_limiter(env: ApiEnv, rate: float, burst: int, proxies: str = "") -> Clock:
    clock = Clock()
    env.app.state.resolver_limiter = ratelimit.Limiter(
        ratelimit.TokenBuckets(rate, burst, clock=clock), ratelimit.parse_proxies(proxies)
    )
    return clock


async def test_rate_limit_per_address_with_retry_after(sqlite_env: ApiEnv) -> None:
    clock = _use_limiter(sqlite_env, rate=0.5, burst=3)
    codes = [
        (await sqlite_env.client.get("/.well-known/gs1resolver")).status_code for _ in range(3)
    ]
    assert codes == [200, 200, 200]
    r = await sqlite_env.client.get(f"/01/{G}", headers=JSON)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"  # one token at 0.5/s
    assert "请求过于频繁" in r.json()["detail"] and "Too many requests" in r.json()["detail"]
    # a spoofed X-Forwarded-For from an untrusted peer changes nothing
    r = await sqlite_env.client.get(
        "/.well-known/gs1resolver", headers={"x-forwarded-for": "9.9.9.9"}
    )
    assert r.status_code == 429
    clock.t += 2.0
    assert (await sqlite_env.client.get("/.well-known/gs1resolver")).status_code == 200


async def test_forwarded_for_is_believed_only_from_trusted_proxies(sqlite_env: ApiEnv) -> None:
    # the test client's peer is 127.0.0.1: trusted here
    _use_limiter(sqlite_env, rate=0.001, burst=1, proxies="127.0.0.1, 10.0.0.0/8")
    client = sqlite_env.client

    async def get(xff: str) -> int:
        r = await client.get("/.well-known/gs1resolver", headers={"x-forwarded-for": xff})
        return r.status_code

    assert await get("203.0.113.5") == 200
    assert await get("203.0.113.5") == 429  # same client
    assert await get("198.51.100.7, 10.1.2.3") == 200  # another client behind two proxies
    assert await get("203.0.113.5, 10.9.9.9") == 429  # the first one again
    assert await get("1.2.3.4, 203.0.113.5") == 429  # what it claims beyond itself is ignored


def test_token_bucket_refills_and_stays_bounded() -> None:
    clock = Clock()
    b = ratelimit.TokenBuckets(1.0, 2, max_keys=100, clock=clock)
    assert b.take("a") is None and b.take("a") is None
    assert b.take("a") == pytest.approx(1.0)
    clock.t += 0.5
    assert b.take("a") == pytest.approx(0.5)
    clock.t += 0.5
    assert b.take("a") is None
    for i in range(1000):
        b.take(f"k{i}")
        clock.t += 0.01
    assert len(b) <= 101
    assert ratelimit.TokenBuckets(0, 1).take("x") is None  # rate 0: no limit
    with pytest.raises(ValueError, match="trusted_proxies"):
        ratelimit.parse_proxies("10.0.0.0/8, proxy.local")


def test_token_buckets_are_not_walked_by_the_collector() -> None:
    """A bucket per client address (50,000 in the public-service bench, as many phones
    behind the proxy): as objects of their own they were all walked by every full
    collection, a pause of the API's event loop; as pairs of floats they are untracked."""
    import gc

    clock = Clock()
    b = ratelimit.TokenBuckets(5.0, 60, clock=clock)
    gc.collect()
    before = len(gc.get_objects())
    for i in range(10_000):
        assert b.take(f"10.0.{i // 256}.{i % 256}") is None
        clock.t += 0.001
    assert b.take("10.0.0.0") is None  # an address seen before: its bucket is updated
    gc.collect()
    assert len(b) == 10_000
    assert len(gc.get_objects()) - before < 100


# ---------------------------------------------------------------------------------------
# Fuzzing: no 5xx, whatever the path


_SEGMENTS = st.one_of(
    st.sampled_from(
        [
            "01",
            "gtin",
            "10",
            "lot",
            "21",
            "ser",
            "22",
            "cpv",
            "17",
            "235",
            "254",
            "00",
            "414",
            "8004",
            G,
            G[1:],
            "9520123456788",
            "",
            "%",
            "%2F",
            "%00",
            "%E5%BE%B7",
            "%ZZ",
            LOT_PATH,
            "A" * 21,
            "..",
            ".",
        ]
    ),
    st.text(
        alphabet=st.characters(
            min_codepoint=32, max_codepoint=0x10FFFF, exclude_categories=("Cs",)
        ),
        max_size=24,
    ).map(lambda s: quote(s, safe="!$&'()*+,;=:@%-._~")),
)
_QUERY = st.lists(
    st.tuples(
        st.sampled_from(["17", "10", "01", "c", "linkType", "99", "999", "7006", "x", ""]),
        st.text(max_size=12).map(lambda s: quote(s, safe="+%")),
    ),
    max_size=4,
).map(lambda kv: "&".join(f"{k}={v}" for k, v in kv))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    prefix=st.sampled_from(["01", "gtin"]),
    segments=st.lists(_SEGMENTS, max_size=7),
    query=_QUERY,
    accept=st.sampled_from(["text/html", "application/json", "application/linkset+json", ""]),
)
async def test_fuzzed_paths_never_answer_5xx(
    sqlite_env: ApiEnv, prefix: str, segments: list[str], query: str, accept: str
) -> None:
    sqlite_env.app.state.resolver_limiter = ratelimit.Limiter(ratelimit.TokenBuckets(0, 1), ())
    path = f"/{prefix}/" + "/".join(segments)
    try:
        r = await sqlite_env.client.get(
            path + (f"?{query}" if query else ""), headers={"accept": accept} if accept else {}
        )
    except httpx.InvalidURL:
        return  # the client refuses to send it: nothing reached the app
    assert r.status_code < 500, (path, query, r.status_code, r.text[:300])
    assert r.status_code in (200, 301, 307, 400, 404), (path, query, r.status_code)


async def test_raw_bytes_outside_ascii_are_a_400_not_a_crash(sqlite_env: ApiEnv) -> None:
    # a request line with raw UTF-8 bytes (a sloppy scanner app): the ASGI server hands
    # them on in raw_path as they came
    sent: list[dict[str, object]] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": f"/01/{G}/10/\u5fb7", "raw_path": f"/01/{G}/10/\u5fb7".encode(),
        "query_string": b"", "root_path": "", "headers": [(b"accept", b"application/json")],
        "client": ("127.0.0.1", 5000), "server": ("api", 80),
    }  # fmt: skip

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await sqlite_env.app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert b"percent-encoded" in b"".join(m.get("body", b"") for m in sent)  # type: ignore[misc]


async def test_head_answers_like_get(sqlite_env: ApiEnv) -> None:
    r = await sqlite_env.client.head(f"/gtin/{G}/lot/{LOT_PATH}?c=1")
    assert r.status_code == 301 and r.headers["location"] == f"/01/{G}/10/{LOT_PATH}?c=1"
    r = await sqlite_env.client.head(f"/01/{G}/10/{LOT_PATH}", headers=HTML)
    assert r.status_code == 200 and r.content == b""


def test_settings_refuse_a_bad_base_url_or_proxy_list() -> None:
    from pydantic import ValidationError

    from cloud.settings import Settings

    assert Settings(public_base_url="https://t.example.cn/").public_base_url == (
        "https://t.example.cn"
    )
    with pytest.raises(ValidationError, match="public_base_url"):
        Settings(public_base_url="trace.example.cn/x")
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(trusted_proxies="10.0.0.0/8, proxy.local")
