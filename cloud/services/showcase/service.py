"""Showcase entries and photos, and what the public reads: published entries with their
photos, a product's recent lots (links to their trace pages, /01/{gtin}/10/{lot}) and
brand admission, the certified (三品一标) products and the participating enterprises
of a county. Every write is audited."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.auth.principal import Principal
from cloud.catalog.storage import Organisation, Product
from cloud.errors import ApiError
from cloud.services.showcase.schemas import ItemIn, ItemOut, ItemPatch, PhotoOut
from cloud.services.showcase.storage import ShowcaseItem, ShowcasePhoto
from cloud.trace.brand.storage import BrandDecision
from cloud.trace.certificates.kinds import BEIJING, TYPE_NAMES
from cloud.trace.certificates.storage import TraceCertificate, TraceCertificateProduct
from cloud.trace.lots.storage import TraceLot

#: The largest photo taken (JPEG or PNG).
PHOTO_MAX_BYTES = 5 * 1024 * 1024
PHOTO_TYPES = ("image/jpeg", "image/png")
#: How many of a product's newest lots the showcase links.
LOTS_SHOWN = 5
#: The catalog organisations that take part in the programme's services (carriers and
#: the operating company are not enterprises of the showcase).
PARTICIPANT_KINDS = ("enterprise", "cooperative", "shop", "station", "platform")


def trace_url(gtin: str, lot: str) -> str:
    """The lot's GS1 Digital Link on our resolver (its trace page)."""
    return f"/01/{gtin}/10/{quote(lot, safe='')}"


def check_write(principal: Principal, county: str) -> None:
    if not principal.can_see(county):
        raise ApiError(
            403,
            f"a {principal.role.value} of {principal.county} may not write "
            f"the showcase of {county}",
        )


async def create(s: AsyncSession, body: ItemIn, principal: Principal) -> ShowcaseItem:
    county, org_id, product_id, name = body.county, None, None, body.name
    if body.kind == "enterprise":
        if body.org_id is None:
            raise ApiError(
                422, "body.org_id: an enterprise entry names its organisation", field="body.org_id"
            )
        org = await s.get(Organisation, body.org_id)
        if org is None or not principal.can_see(org.county):
            raise ApiError(
                404, f"body.org_id: organisation {body.org_id} not found", field="body.org_id"
            )
        county, org_id, name = org.county, org.id, name or org.name
    elif body.kind == "product":
        if body.product_id is None:
            raise ApiError(
                422, "body.product_id: a product entry names its product", field="body.product_id"
            )
        p = await s.get(Product, body.product_id)
        if p is None or not principal.can_see(p.county):
            raise ApiError(
                404,
                f"body.product_id: product {body.product_id} not found",
                field="body.product_id",
            )
        county, org_id, product_id, name = p.county, p.org_id, p.id, name or p.name
        body = body.model_copy(update={"name_en": body.name_en or p.name_en})
    else:
        if county is None:
            raise ApiError(422, "body.county: a park's entry names its county", field="body.county")
        if name is None:
            raise ApiError(422, "body.name: a park's entry needs its name", field="body.name")
    if body.county is not None and body.county != county:
        raise ApiError(
            422,
            f"body.county: the entry is of county {county}; leave county out",
            field="body.county",
        )
    assert county is not None and name is not None
    check_write(principal, county)
    item = ShowcaseItem(
        kind=body.kind,
        county=county,
        org_id=org_id,
        product_id=product_id,
        name=name,
        name_en=body.name_en,
        intro=body.intro,
        intro_en=body.intro_en,
        lon=body.lon,
        lat=body.lat,
        published=body.published,
        created_by=principal.actor,
    )
    s.add(item)
    await s.flush()
    await record(
        s,
        principal.actor,
        "showcase.item_created",
        f"showcase:{item.id}",
        county,
        {
            "kind": item.kind,
            "name": item.name,
            "org_id": org_id,
            "product_id": product_id,
            "published": item.published,
        },
    )
    return item


async def get(s: AsyncSession, item_id: int, principal: Principal) -> ShowcaseItem:
    item = await s.get(ShowcaseItem, item_id)
    if item is None or not principal.can_see(item.county):
        raise ApiError(404, f"showcase entry {item_id} not found")
    return item


async def update(
    s: AsyncSession, item: ShowcaseItem, body: ItemPatch, principal: Principal
) -> ShowcaseItem:
    check_write(principal, item.county)
    changes = body.model_dump(exclude_unset=True)
    for k in ("name", "intro", "published"):
        if k in changes and changes[k] is None:
            raise ApiError(422, f"body.{k}: may not be null", field=f"body.{k}")
    changed = {k: v for k, v in changes.items() if getattr(item, k) != v}
    for k, v in changed.items():
        setattr(item, k, v)
    if changed:
        item.updated_at, item.updated_by = datetime.now(UTC), principal.actor
        await record(
            s, principal.actor, "showcase.item_updated", f"showcase:{item.id}", item.county, changed
        )
    return item


def items_query(counties: list[str] | None, kind: str | None) -> Select[Any]:
    q = select(ShowcaseItem)
    if counties is not None:
        q = q.where(ShowcaseItem.county.in_(counties))
    if kind is not None:
        q = q.where(ShowcaseItem.kind == kind)
    return q


async def photos(s: AsyncSession, ids: list[int], *, public: bool) -> dict[int, list[PhotoOut]]:
    out: dict[int, list[PhotoOut]] = {i: [] for i in ids}
    base = "/api/v1/public/showcase/photos" if public else "/api/v1/services/showcase/photos"
    for p in await s.scalars(
        select(ShowcasePhoto)
        .where(ShowcasePhoto.item_id.in_(ids or [0]))
        .order_by(ShowcasePhoto.id)
    ):
        out[p.item_id].append(
            PhotoOut(
                id=p.id,
                content_type=p.content_type,
                size=p.size,
                caption=p.caption,
                url=f"{base}/{p.id}",
            )
        )
    return out


async def item_outs(s: AsyncSession, rows: list[ShowcaseItem]) -> list[ItemOut]:
    got = await photos(s, [r.id for r in rows], public=False)
    return [
        ItemOut(
            id=r.id,
            kind=r.kind,
            county=r.county,
            org_id=r.org_id,
            product_id=r.product_id,  # type: ignore[arg-type]
            name=r.name,
            name_en=r.name_en,
            intro=r.intro,
            intro_en=r.intro_en,
            lon=r.lon,
            lat=r.lat,
            published=r.published,
            photos=got[r.id],
            updated_at=r.updated_at,
        )
        for r in rows
    ]


async def add_photo(
    s: AsyncSession,
    item: ShowcaseItem,
    *,
    sha256: str,
    content_type: str,
    size: int,
    caption: str | None,
    principal: Principal,
) -> ShowcasePhoto:
    check_write(principal, item.county)
    photo = ShowcasePhoto(
        item_id=item.id,
        sha256=sha256,
        content_type=content_type,
        size=size,
        caption=caption,
        uploaded_by=principal.actor,
    )
    s.add(photo)
    await s.flush()
    await record(
        s,
        principal.actor,
        "showcase.photo_added",
        f"showcase:{item.id}",
        item.county,
        {"photo": photo.id, "sha256": sha256, "size": size},
    )
    return photo


async def photo_of(s: AsyncSession, photo_id: int, principal: Principal | None) -> ShowcasePhoto:
    """A photo of an entry the principal sees (None: the public, of a published entry)."""
    p = await s.get(ShowcasePhoto, photo_id)
    item = None if p is None else await s.get(ShowcaseItem, p.item_id)
    if (
        p is None
        or item is None
        or (not item.published if principal is None else not principal.can_see(item.county))
    ):
        raise ApiError(404, f"photo {photo_id} not found")
    return p


# ------------------------------------------------------------------ public


def today() -> date:
    return datetime.now(BEIJING).date()


async def certificates_by_gtin(
    s: AsyncSession, gtins: list[str], on: date
) -> dict[str, list[dict[str, Any]]]:
    """The 三品一标 certificates valid ``on`` that cover each GTIN."""
    out: dict[str, list[dict[str, Any]]] = {g: [] for g in gtins}
    rows = await s.execute(
        select(TraceCertificateProduct.gtin, TraceCertificate)
        .join(TraceCertificate, TraceCertificate.id == TraceCertificateProduct.certificate_id)
        .where(
            TraceCertificateProduct.gtin.in_(gtins or [""]),
            TraceCertificate.valid_from <= on,
            TraceCertificate.valid_to >= on,
        )
        .order_by(TraceCertificate.id)
    )
    for gtin, c in rows:
        zh, en = TYPE_NAMES.get(c.type, (c.type, c.type))
        out[gtin].append(
            {
                "type": c.type,
                "type_zh": zh,
                "type_en": en,
                "number": c.number,
                "issuer": c.issuer,
                "valid_to": c.valid_to.isoformat(),
            }
        )
    return out


async def lots_of(s: AsyncSession, gtins: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each GTIN's newest lots with their trace links and brand admission (the lot's
    latest brand decision granted)."""
    out: dict[str, list[dict[str, Any]]] = {g: [] for g in gtins}
    lots: list[TraceLot] = []
    for g in gtins:  # a handful of products per page, LOTS_SHOWN lots each
        lots += list(
            await s.scalars(
                select(TraceLot)
                .where(TraceLot.gtin == g)
                .order_by(TraceLot.id.desc())
                .limit(LOTS_SHOWN)
            )
        )
    granted: dict[int, bool] = {}
    if lots:
        last = (
            select(BrandDecision.lot_id, func.max(BrandDecision.id).label("id"))
            .where(BrandDecision.lot_id.in_([x.id for x in lots]))
            .group_by(BrandDecision.lot_id)
            .subquery()
        )
        for lot_id, ok in await s.execute(
            select(BrandDecision.lot_id, BrandDecision.granted).join(
                last, last.c.id == BrandDecision.id
            )
        ):
            granted[lot_id] = bool(ok)
    for x in lots:
        out[x.gtin].append(
            {
                "lot": x.lot,
                "trace_url": trace_url(x.gtin, x.lot),
                "produced_on": x.produced_on.isoformat() if x.produced_on else None,
                "brand": granted.get(x.id, False),
            }
        )
    return out


async def public_items(
    s: AsyncSession, rows: list[ShowcaseItem], *, full: bool
) -> list[dict[str, Any]]:
    """Published entries as the public reads them (no contact, no personal data)."""
    got = await photos(s, [r.id for r in rows], public=True)
    products = {
        p.id: p
        for p in await s.scalars(
            select(Product).where(
                Product.id.in_([r.product_id for r in rows if r.product_id] or [0])
            )
        )
    }
    gtins = [p.gtin for p in products.values()]
    certs = await certificates_by_gtin(s, gtins, today())
    lots = await lots_of(s, gtins) if gtins else {}
    orgs = {
        o.id: o
        for o in await s.scalars(
            select(Organisation).where(
                Organisation.id.in_([r.org_id for r in rows if r.org_id] or [0])
            )
        )
    }
    out = []
    for r in rows:
        d: dict[str, Any] = {
            "id": r.id,
            "kind": r.kind,
            "county": r.county,
            "name": r.name,
            "name_en": r.name_en,
            "photos": [p.model_dump() for p in got[r.id]],
            "url": f"/h5/showcase/{r.id}",
        }
        if r.org_id in orgs:
            d["organisation"] = {
                "id": r.org_id,
                "name": orgs[r.org_id].name,
                "kind": orgs[r.org_id].kind,
            }
        if full:
            d.update(intro=r.intro, intro_en=r.intro_en, lon=r.lon, lat=r.lat)
        p = products.get(r.product_id or 0)
        if p is not None:
            d["product"] = {"gtin": p.gtin, "category": p.category}
            d["certificates"] = certs[p.gtin]
            d["lots"] = lots[p.gtin]
            d["brand"] = any(x["brand"] for x in lots[p.gtin])
        out.append(d)
    return out


def published_query(county: str | None, kind: str | None) -> Select[Any]:
    q = select(ShowcaseItem).where(ShowcaseItem.published.is_(True))
    if county is not None:
        q = q.where(ShowcaseItem.county == county)
    if kind is not None:
        q = q.where(ShowcaseItem.kind == kind)
    return q


async def public_item(s: AsyncSession, item_id: int) -> dict[str, Any]:
    item = await s.get(ShowcaseItem, item_id)
    if item is None or not item.published:
        raise ApiError(404, f"showcase entry {item_id} not found")
    return (await public_items(s, [item], full=True))[0]


def certified_query(county: str | None, on: date) -> Select[Any]:
    """Products covered today by a valid 三品一标 certificate."""
    covered = (
        select(TraceCertificateProduct.gtin)
        .join(TraceCertificate, TraceCertificate.id == TraceCertificateProduct.certificate_id)
        .where(TraceCertificate.valid_from <= on, TraceCertificate.valid_to >= on)
    )
    q = select(Product).where(Product.gtin.in_(covered))
    if county is not None:
        q = q.where(Product.county == county)
    return q


async def certified_items(s: AsyncSession, rows: list[Product]) -> list[dict[str, Any]]:
    certs = await certificates_by_gtin(s, [p.gtin for p in rows], today())
    orgs = {
        o.id: o.name
        for o in await s.scalars(
            select(Organisation).where(Organisation.id.in_([p.org_id for p in rows] or [0]))
        )
    }
    shown = {
        i.product_id: i.id
        for i in await s.scalars(
            select(ShowcaseItem).where(
                ShowcaseItem.product_id.in_([p.id for p in rows] or [0]),
                ShowcaseItem.published.is_(True),
            )
        )
    }
    return [
        {
            "gtin": p.gtin,
            "name": p.name,
            "name_en": p.name_en,
            "category": p.category,
            "county": p.county,
            "organisation": orgs.get(p.org_id),
            "certificates": certs[p.gtin],
            "showcase_url": f"/h5/showcase/{shown[p.id]}" if p.id in shown else None,
        }
        for p in rows
    ]


def enterprises_query(county: str | None) -> Select[Any]:
    q = select(Organisation).where(Organisation.kind.in_(PARTICIPANT_KINDS))
    if county is not None:
        q = q.where(Organisation.county == county)
    return q


async def enterprise_items(s: AsyncSession, rows: list[Organisation]) -> list[dict[str, Any]]:
    """Participating organisations: name, kind, county (never the contact)."""
    shown = {
        i.org_id: i.id
        for i in await s.scalars(
            select(ShowcaseItem).where(
                ShowcaseItem.org_id.in_([o.id for o in rows] or [0]),
                ShowcaseItem.kind == "enterprise",
                ShowcaseItem.published.is_(True),
            )
        )
    }
    return [
        {
            "id": o.id,
            "name": o.name,
            "kind": o.kind,
            "county": o.county,
            "showcase_url": f"/h5/showcase/{shown[o.id]}" if o.id in shown else None,
        }
        for o in rows
    ]
