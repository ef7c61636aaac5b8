"""The GS1 Digital Link resolver at the root of the public host (issue 12).

``GET /01/{gtin}[/22/{cpv}][/10/{lot}][/21/{serial}]?...`` (and the short names
``/gtin/``, ``/lot/``, ``/ser/``, ``/cpv/``):

- invalid (check digit, an AI not allowed in that position, a lot over 20 characters or
  outside set 82, an invalid date, ...): 400 with the reason in Chinese and English, an
  HTML page for a browser, JSON when ``Accept`` asks for it;
- valid but not canonical (short names, GTIN-8/12/13, needless %-escapes): 301 to the
  canonical path with the query string kept exactly as sent (``c``, ``linkType`` ...);
- a well-formed GTIN or lot we do not know: 404 with a plain bilingual page;
- otherwise the link type asked for (``?linkType=``): ``gs1:pip`` the product page,
  ``gs1:traceability`` the lot's trace page (the default for a lot; the product page is
  the default for a GTIN alone), ``gs1:certificationInfo`` the lot's certificates,
  ``gs1:epcis`` a 307 to the lot's EPCIS query; ``linkset`` / ``all`` or
  ``Accept: application/linkset+json``: the RFC 9264 linkset. A link type we do not
  serve gets the default link, as GS1's resolver standard says.

``GET /.well-known/gs1resolver`` describes the resolver (GS1-Conformant resolver 1.x).
Every route here is public and rate-limited per client address
(:mod:`cloud.web.ratelimit`). Nothing here shows personal data: products,
organisations (enterprises and cooperatives), counties, certificates' public fields.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.deps import require
from cloud.catalog.categories import NAMES as CATEGORY_NAMES
from cloud.catalog.lookup import get_product_by_gtin
from cloud.catalog.storage import Organisation, Product
from cloud.db import Database, utcnow
from cloud.errors import Error
from cloud.resolver.dl import (
    GS1_VOC,
    LINK_TYPE,
    DigitalLink,
    DigitalLinkError,
    parse,
)
from cloud.resolver.page.views import cached, trace_page
from cloud.resolver.page.views import not_found as page_not_found
from cloud.trace.certificates.kinds import TYPE_NAMES
from cloud.trace.certificates.service import covering
from cloud.trace.epcis.identifiers import dl_uri
from cloud.trace.lots.storage import TraceLot
from cloud.web.ratelimit import rate_limit
from cloud.web.shell import environment, page_context, t
from protocol.ids import COUNTIES

LINKSET_TYPE = "application/linkset+json"
LINKSET_CONTEXT = "https://ref.gs1.org/standards/resolver/linkset-context"
#: Link types this resolver serves (CURIEs), with their titles.
LINK_TYPES: dict[str, tuple[str, str]] = {
    "gs1:pip": ("产品信息", "Product information"),
    "gs1:traceability": ("追溯信息", "Traceability"),
    "gs1:certificationInfo": ("认证信息", "Certification information"),
    "gs1:epcis": ("EPCIS 事件查询", "EPCIS event query"),
}
LOT_LINK_TYPES = ("gs1:traceability", "gs1:certificationInfo", "gs1:epcis")

router = APIRouter(tags=["resolver"])
PUBLIC = [require("public"), Depends(rate_limit)]


# ---------------------------------------------------------------------------------------
# What the request wants


def wants_json(request: Request) -> bool:
    """JSON when Accept asks for it (``application/json`` or a ``+json`` type) and does
    not put HTML first; a browser (or no Accept) gets HTML."""
    accept = request.headers.get("accept", "").lower()
    if not accept:
        return False
    first = accept.split(",")[0].strip()
    if first.startswith("text/html"):
        return False
    return "json" in accept


def wants_linkset(request: Request, dl: DigitalLink) -> bool:
    return dl.link_type == "linkset" or LINKSET_TYPE in request.headers.get("accept", "").lower()


def _base(request: Request) -> str:
    return str(request.app.state.settings.public_base_url).rstrip("/")


# ---------------------------------------------------------------------------------------
# Pages (bilingual, no external request, small)

TEMPLATES = Path(__file__).resolve().parent / "templates"


def page(
    request: Request, title_zh: str, title_en: str, body: str, *, status: int = 200
) -> HTMLResponse:
    """A page in the shared shell (cloud/web: language switch, the footer's operator and
    ICP 备案); ``body`` is HTML already escaped."""
    env = environment(TEMPLATES)
    doc = env.get_template("resolver.html").render(
        page_context(
            request.app.state.settings, title_zh=title_zh, title_en=title_en, body=Markup(body)
        )
    )
    return HTMLResponse(doc, status_code=status)


def bad_request(request: Request, exc: DigitalLinkError) -> Response:
    if wants_json(request):
        return JSONResponse(
            {
                "detail": f"{exc.field}: {exc.en}",
                "field": exc.field,
                "zh": exc.zh,
                "en": exc.en,
            },
            status_code=400,
        )
    body = (
        f"<p>{t(exc.zh, exc.en)}</p>"
        f"<p class='muted'>{t('字段', 'Field')}: <code>{html.escape(exc.field)}</code></p>"
        f"<p>{t('请检查二维码或链接是否完整。', 'Check that the QR code or link is complete.')}</p>"
    )
    return page(request, "无效的商品链接", "Invalid product link", body, status=400)


def not_found(request: Request, dl: DigitalLink) -> Response:
    what_zh = f"批次 {dl.lot}（GTIN {dl.gtin}）" if dl.lot is not None else f"GTIN {dl.gtin}"
    what_en = f"lot {dl.lot} of GTIN {dl.gtin}" if dl.lot is not None else f"GTIN {dl.gtin}"
    zh = f"本平台没有{what_zh}的记录。"
    en = f"This platform has no record of {what_en}."
    if wants_json(request):
        return JSONResponse({"detail": en, "zh": zh, "en": en}, status_code=404)
    # the consumer pages' own 404 (the same shell and footer as the trace page)
    return page_not_found(request.app.state.settings, dl.gtin, dl.lot)


# ---------------------------------------------------------------------------------------
# Public data of a GTIN and a lot


@dataclasses.dataclass(frozen=True)
class ProductInfo:
    """What may be shown of a product: no personal data."""

    gtin: str
    name: str | None
    name_en: str | None
    category: str | None
    producer: str | None
    county: str | None

    def as_json(self) -> dict[str, Any]:
        cat = CATEGORY_NAMES.get(self.category or "")
        county = COUNTIES.get(self.county or "")
        return {
            "gtin": self.gtin,
            "name": self.name,
            "name_en": self.name_en,
            "category": self.category,
            "category_name": cat[0] if cat else None,
            "category_name_en": cat[1] if cat else None,
            "producer": self.producer,
            "county": self.county,
            "county_name": county[1] if county else None,
            "county_name_en": county[0] if county else None,
        }


async def _org_name(session: AsyncSession, org_id: int | None) -> str | None:
    if org_id is None:
        return None
    org = await session.get(Organisation, org_id)
    return org.name if org is not None else None


async def product_info(
    session: AsyncSession, gtin: str, lot: TraceLot | None
) -> ProductInfo | None:
    """The product of ``gtin`` from the catalog, else from a registered lot; None when we
    know neither."""
    product: Product | None = await get_product_by_gtin(session, gtin)
    if product is not None:
        return ProductInfo(
            gtin,
            product.name,
            product.name_en,
            product.category,
            await _org_name(session, product.org_id),
            product.county,
        )
    if lot is None:
        lot = await session.scalar(select(TraceLot).where(TraceLot.gtin == gtin).limit(1))
    if lot is None:
        return None
    return ProductInfo(gtin, None, None, None, await _org_name(session, lot.org_id), lot.county)


async def find_lot(session: AsyncSession, gtin: str, lot: str) -> TraceLot | None:
    """A registered lot, whatever its county: the resolver is public."""
    return await session.scalar(select(TraceLot).where(TraceLot.gtin == gtin, TraceLot.lot == lot))


async def certificates(session: AsyncSession, lot: TraceLot) -> list[dict[str, Any]]:
    """The 三品一标 certificates covering ``lot``: public fields only."""
    now = utcnow()
    out = []
    for cov in (await covering(session, [lot]))[lot.id]:
        c = cov.certificate
        names = TYPE_NAMES.get(c.type, (c.type, c.type))
        out.append(
            {
                "type": c.type,
                "type_name": names[0],
                "type_name_en": names[1],
                "number": c.number,
                "issuer": c.issuer,
                "valid_from": c.valid_from.isoformat(),
                "valid_to": c.valid_to.isoformat(),
                "valid_now": cov.valid_at(now),
            }
        )
    return out


def epcis_query(lot: TraceLot | DigitalLink) -> str:
    """The EPCIS query for the lot's events (by its class, the canonical LGTIN URI)."""
    assert lot.lot is not None
    return "/api/v1/epcis/events?MATCH_anyEPCClass=" + quote(dl_uri(lot.gtin, lot.lot), safe="")


# ---------------------------------------------------------------------------------------
# Links


def link(dl: DigitalLink, base: str, link_type: str) -> str:
    return dataclasses.replace(dl, link_type=link_type).uri(base)


def anchor(dl: DigitalLink, base: str) -> str:
    return base + dl.path()


def default_link_type(dl: DigitalLink) -> str:
    return "gs1:traceability" if dl.lot is not None else "gs1:pip"


def linkset(dl: DigitalLink, base: str, info: ProductInfo) -> dict[str, Any]:
    """The RFC 9264 linkset of the item, with GS1 link-type relation URIs."""
    title = info.name or f"GTIN {dl.gtin}"
    if dl.lot is not None:
        title += f" · {dl.lot}"
    types = ["gs1:pip"] + (list(LOT_LINK_TYPES) if dl.lot is not None else [])
    entry: dict[str, Any] = {"anchor": anchor(dl, base), "itemDescription": title}
    for lt in types:
        zh, en = LINK_TYPES[lt]
        if lt == "gs1:epcis":
            target = {
                "href": base + epcis_query(dl),
                "title": f"{zh} {en}",
                "type": "application/ld+json",
            }
        else:
            target = {
                "href": link(dl, base, lt),
                "title": f"{zh} {en}",
                "type": "text/html",
                "hreflang": ["zh", "en"],
            }
        entry[GS1_VOC + lt.removeprefix("gs1:")] = [target]
    default = default_link_type(dl)
    entry[GS1_VOC + "defaultLink"] = [
        {"href": link(dl, base, default), "title": " ".join(LINK_TYPES[default])}
    ]
    return {"linkset": [entry]}


def _headers(dl: DigitalLink, base: str) -> dict[str, str]:
    return {
        "Link": f'<{link(dl, base, "linkset")}>; rel="linkset"; type="{LINKSET_TYPE}"',
        "Vary": "Accept",
    }


# ---------------------------------------------------------------------------------------
# Renderings


def _rows(rows: Mapping[tuple[str, str], tuple[str | None, str | None]]) -> str:
    """A key-value table; each label and value in both languages (a value without an
    English form is shown as it is in both)."""
    out = "<table class='kv'>"
    for (label_zh, label_en), (zh_value, en_value) in rows.items():
        if zh_value is None:
            continue
        out += (
            f"<tr><th>{t(label_zh, label_en)}</th><td>{t(zh_value, en_value or zh_value)}</td></tr>"
        )
    return out + "</table>"


def pip_page(
    request: Request, dl: DigitalLink, info: ProductInfo, lot: TraceLot | None
) -> Response:
    data = info.as_json()
    if wants_json(request):
        return JSONResponse(data, headers=_headers(dl, _base(request)))
    rows: dict[tuple[str, str], tuple[str | None, str | None]] = {
        ("产品", "Product"): (data["name"] or f"GTIN {dl.gtin}", data["name_en"]),
        ("类别", "Category"): (data["category_name"], data["category_name_en"]),
        ("生产者", "Producer"): (data["producer"], None),
        ("产地", "County"): (data["county_name"], data["county_name_en"]),
        ("GTIN", "GTIN"): (dl.gtin, None),
        ("批次", "Lot"): (dl.lot, None),
    }
    if lot is not None and lot.produced_on is not None:
        rows[("生产日期", "Produced")] = (lot.produced_on.isoformat(), None)
    body = _rows(rows) + _nav(request, dl)
    resp = page(request, "产品信息", "Product information", body)
    resp.headers.update(_headers(dl, _base(request)))
    return resp


def _nav(request: Request, dl: DigitalLink) -> str:
    if dl.lot is None:
        return ""
    items = "".join(
        f"<li><a href='{html.escape(link(dl, '', lt))}'>{t(*LINK_TYPES[lt])}</a></li>"
        for lt in ("gs1:pip", "gs1:traceability", "gs1:certificationInfo")
    )
    return f"<ul>{items}</ul>"


async def certification_page(
    request: Request, dl: DigitalLink, session: AsyncSession, lot: TraceLot
) -> Response:
    certs = await certificates(session, lot)
    if wants_json(request):
        return JSONResponse(
            {"gtin": dl.gtin, "lot": dl.lot, "certificates": certs},
            headers=_headers(dl, _base(request)),
        )
    e = html.escape
    if certs:
        body = ""
        for c in certs:
            expired = (
                "" if c["valid_now"] else f" <span class='bad'>{t('已过期', 'expired')}</span>"
            )
            body += _rows(
                {
                    ("类型", "Type"): (c["type_name"], c["type_name_en"]),
                    ("编号", "No."): (c["number"], None),
                    ("发证机构", "Issuer"): (c["issuer"], None),
                }
            )
            body += (
                f"<p class='muted'>{t('有效期', 'Valid')}: {e(c['valid_from'])} – "
                f"{e(c['valid_to'])}{expired}</p>"
            )
    else:
        body = f"<p>{t('此批次没有三品一标证书。', 'No certificates cover this lot.')}</p>"
    resp = page(
        request, f"认证信息 · {dl.lot}", f"Certification · {dl.lot}", body + _nav(request, dl)
    )
    resp.headers.update(_headers(dl, _base(request)))
    return resp


# ---------------------------------------------------------------------------------------
# Routes


async def resolve(request: Request) -> Response:
    raw = request.scope.get("raw_path") or request.url.path.encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    query = request.scope.get("query_string", b"").decode("latin-1")
    try:
        dl = parse(path, query)
    except DigitalLinkError as exc:
        if not (path.endswith("/") and len(path) > 1):
            return bad_request(request, exc)
        # one trailing slash (a sloppy printer): tolerated, as GS1's resolver standard
        # asks, by the redirect to the canonical form; the URI itself stays invalid
        try:
            dl = parse(path[:-1], query)
        except DigitalLinkError:
            return bad_request(request, exc)
    canonical = dl.path()
    if path != canonical:
        return RedirectResponse(canonical + (f"?{query}" if query else ""), status_code=301)

    db: Database = request.app.state.db
    base = _base(request)
    if (
        request.method == "GET"
        and not wants_linkset(request, dl)
        and (dl.link_type if dl.link_type in LINK_TYPES else default_link_type(dl))
        == "gs1:traceability"
        and cached(request, dl)
    ):
        # the lot's page is cached: the page checks it is still valid (and builds it
        # again, or answers 404, when not), without the lookups below
        return _trace_page_headers(await trace_page(request, dl, db), dl, base)
    async with db.session() as session:
        lot = await find_lot(session, dl.gtin, dl.lot) if dl.lot is not None else None
        if dl.lot is not None and lot is None:
            return not_found(request, dl)
        info = await product_info(session, dl.gtin, lot)
        if info is None:
            return not_found(request, dl)
        if wants_linkset(request, dl):
            return JSONResponse(
                linkset(dl, base, info),
                media_type=LINKSET_TYPE,
                headers={
                    **_headers(dl, base),
                    "Link": f'<{LINKSET_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; '
                    'type="application/ld+json"',
                },
            )
        wanted = dl.link_type if dl.link_type in LINK_TYPES else default_link_type(dl)
        if lot is None and wanted in LOT_LINK_TYPES:
            wanted = "gs1:pip"  # a GTIN alone has no lot links: its default
        if wanted == "gs1:pip":
            return pip_page(request, dl, info, lot)
        assert lot is not None
        if wanted == "gs1:certificationInfo":
            return await certification_page(request, dl, session, lot)
        if wanted == "gs1:epcis":
            return RedirectResponse(epcis_query(lot), status_code=307, headers=_headers(dl, base))
    if request.method == "HEAD":
        # no page rendered, and no scan recorded for a HEAD (link checkers, previews)
        return Response(status_code=200, media_type="text/html", headers=_headers(dl, base))
    # the default link of a lot: the consumer trace page (helper page's)
    return _trace_page_headers(await trace_page(request, dl, db), dl, base)


def _trace_page_headers(resp: Response, dl: DigitalLink, base: str) -> Response:
    resp.headers.setdefault("Link", _headers(dl, base)["Link"])
    resp.headers.add_vary_header("Accept")
    return resp


for _prefix, _name in (("01", "GTIN"), ("gtin", "GTIN (short name)")):
    router.add_api_route(
        f"/{_prefix}/{{rest:path}}",
        resolve,
        methods=["GET"],
        dependencies=PUBLIC,
        summary=f"GS1 Digital Link resolver: /{_prefix}/... ({_name}; public, rate-limited)",
        description=__doc__,
        responses={
            200: {"description": "The link type asked for (HTML, JSON or a linkset)"},
            301: {"description": "Not canonical: redirect to the canonical URI, query kept"},
            307: {"description": "gs1:epcis: the lot's EPCIS query"},
            400: {
                "model": Error,
                "description": "Invalid Digital Link: `field` the AI at fault, `zh` and `en` "
                "the reason (an HTML page unless Accept asks for JSON)",
            },
            404: {"model": Error, "description": "Well-formed but unknown GTIN or lot"},
            429: {"model": Error, "description": "Too many requests from this address"},
        },
        name=f"resolve_{_prefix}",
    )
    # HEAD as GS1's resolver standard asks (the same answer without a body)
    router.add_api_route(
        f"/{_prefix}/{{rest:path}}",
        resolve,
        methods=["HEAD"],
        dependencies=PUBLIC,
        include_in_schema=False,
        name=f"resolve_{_prefix}_head",
    )


@router.get(
    "/.well-known/gs1resolver",
    dependencies=PUBLIC,
    responses={429: {"model": Error, "description": "Too many requests from this address"}},
    summary="The resolver's description (GS1-Conformant resolver standard; public)",
)
async def well_known(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    return JSONResponse(
        {
            "name": settings.resolver_name,
            "resolverRoot": str(settings.public_base_url).rstrip("/"),
            "supportedPrimaryKeys": ["01"],
            "supportedLinkType": [{"namespace": GS1_VOC, "prefix": "gs1:"}],
            "linkTypeDefaultCanBeLinkset": False,
            "jsonLdContextLocation": LINKSET_CONTEXT,
            "contact": {"fn": settings.resolver_name},
        }
    )


__all__ = ["LINK_TYPE", "resolve", "router", "trace_page"]
