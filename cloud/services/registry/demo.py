"""Demo data of the registry, showcase and CMS: ``await seed_demo(session, files)``.

Idempotent (natural keys: USCC, GTIN, lot, titles): a second run adds nothing. Per
county: an enterprise that registered itself (approved, with its licence scan), one
registration pending and one refused with its reason; a product with a lot, a green-food
certificate and the lot's brand admission; a published enterprise, industrial park and
product entry with a photo. Then policies, news and notices: published, one scheduled
and one draft. Every figure it makes is marked demo (``created_by`` ``demo``).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth.principal import Principal, Role
from cloud.catalog.gs1 import gs1_check_digit
from cloud.catalog.storage import Organisation, Product
from cloud.catalog.uscc import check_char
from cloud.inspections.files import FileStore
from cloud.services.cms import service as cms
from cloud.services.cms.schemas import ArticleIn
from cloud.services.cms.storage import Article
from cloud.services.registry import service as registry
from cloud.services.registry.schemas import RegistrationIn
from cloud.services.registry.storage import Registration
from cloud.services.showcase import service as showcase
from cloud.services.showcase.schemas import ItemIn
from cloud.services.showcase.storage import ShowcaseItem
from cloud.trace.brand.storage import BrandDecision
from cloud.trace.certificates.storage import TraceCertificate, TraceCertificateProduct
from cloud.trace.lots.storage import TraceLot
from protocol.ids import PREFECTURE

ACTOR = Principal("user", "demo", Role.PREFECTURE_ADMIN, PREFECTURE)
#: A tiny PDF standing for a licence scan.
LICENCE = b"%PDF-1.4\n% demo licence scan\n%%EOF\n"

#: county -> (enterprise, English, product, English, category, park, park English, lon, lat)
WORLD: dict[str, tuple[str, str, str, str, str, str, str, float, float]] = {
    "533103": ("芒市后谷咖啡示范企业", "Mangshi coffee (demo)", "德宏小粒咖啡 500g",
               "Dehong arabica coffee 500 g", "coffee", "芒市农产品加工园区",
               "Mangshi agro-processing park", 98.58, 24.43),
    "533124": ("陇川乡村米业示范社", "Longchuan rice co-op (demo)", "陇川软米 5kg",
               "Longchuan soft rice 5 kg", "rice", "陇川章凤工业园区",
               "Zhangfeng industrial park", 97.79, 24.19),
    "533123": ("盈江荔枝示范合作社", "Yingjiang lychee co-op (demo)", "盈江早熟荔枝 2kg",
               "Yingjiang early lychee 2 kg", "fruit", "盈江工业园区",
               "Yingjiang industrial park", 97.93, 24.71),
    "533122": ("梁河回龙茶示范企业", "Lianghe Huilong tea (demo)", "回龙茶 250g",
               "Huilong tea 250 g", "tea", "梁河九保产业园",
               "Jiubao industrial park", 98.30, 24.80),
}  # fmt: skip


def png(rgb: tuple[int, int, int], w: int = 48, h: int = 32) -> bytes:
    """A solid-colour PNG (a stand-in photo; no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + bytes(rgb) * w
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * h))
        + chunk(b"IEND", b"")
    )


def demo_uscc(county: str, n: int) -> str:
    """The demo registrations' codes: 91<county>MA9<n>, apart from the order
    simulation's 91<county>MA7<n> (cloud/commerce/sim.py), since the demo seeds both."""
    body = f"91{county}MA9{n:06d}"
    return body + check_char(body)


def demo_gtin(county: str) -> str:
    body = f"0690999{county[-3:]}000"
    return body + gs1_check_digit(body)


async def _registration(
    s: AsyncSession, county: str, n: int, kind: str, name: str, files: FileStore | None
) -> Registration:
    uscc = demo_uscc(county, n)
    found = await s.scalar(select(Registration).where(Registration.uscc == uscc))
    if found is not None:
        return found
    reg, _ = await registry.submit(
        s,
        RegistrationIn(
            kind=kind,
            name=name,
            uscc=uscc,
            county=county,
            contact_name="演示联系人",  # type: ignore[arg-type]
            contact_phone="0692-0000000",
        ),
    )
    key = hashlib.sha256(LICENCE).hexdigest() if files is None else files.put(LICENCE)
    await registry.set_licence(
        s, reg, sha256=key, content_type="application/pdf", size=len(LICENCE)
    )
    return reg


async def _item(
    s: AsyncSession, body: ItemIn, files: FileStore | None, rgb: tuple[int, int, int]
) -> ShowcaseItem:
    q = select(ShowcaseItem).where(ShowcaseItem.kind == body.kind)
    if body.kind == "park":
        q = q.where(ShowcaseItem.name == body.name)
    elif body.kind == "enterprise":
        q = q.where(ShowcaseItem.org_id == body.org_id)
    else:
        q = q.where(ShowcaseItem.product_id == body.product_id)
    item = await s.scalar(q)
    if item is None:
        item = await showcase.create(s, body, ACTOR)
        if files is not None:
            data = png(rgb)
            await showcase.add_photo(
                s,
                item,
                sha256=files.put(data),
                content_type="image/png",
                size=len(data),
                caption=item.name,
                principal=ACTOR,
            )
    return item


async def seed_demo(session: AsyncSession, files: FileStore | None = None) -> dict[str, Any]:
    """Seed (once) and return what is there: ids by county. ``files``: where licence scans
    and photos go (without it, entries have no photo and licences are not downloadable)."""
    s = session
    out: dict[str, Any] = {}
    today = date.today()
    for i, (county, w) in enumerate(WORLD.items()):
        name, name_en, prod, prod_en, category, park, park_en, lon, lat = w
        reg = await _registration(s, county, 1, "enterprise", name, files)
        if reg.status == "pending":
            await registry.approve(s, reg, ACTOR)
        org = await s.get_one(Organisation, reg.org_id)
        pending = await _registration(s, county, 2, "shop", f"{name[:2]}网店（待审）", files)
        refused = await _registration(
            s, county, 3, "cooperative", f"{name[:2]}合作社（退回）", None
        )
        if refused.status == "pending":
            await registry.refuse(
                s, refused, "营业执照扫描件不清晰，请重新上传 (licence scan unreadable)", ACTOR
            )
        gtin = demo_gtin(county)
        product = await s.scalar(select(Product).where(Product.gtin == gtin))
        if product is None:
            product = Product(
                gtin=gtin,
                name=prod,
                name_en=prod_en,
                category=category,
                org_id=org.id,
                county=county,
                created_by="demo",
            )
            s.add(product)
            await s.flush()
        lot_code = f"DEMO{today.year}{i + 1:02d}"
        lot = await s.scalar(
            select(TraceLot).where(TraceLot.gtin == gtin, TraceLot.lot == lot_code)
        )
        if lot is None:
            lot = TraceLot(
                gtin=gtin,
                lot=lot_code,
                county=county,
                org_id=org.id,
                product_id=product.id,
                produced_on=today - timedelta(days=20),
                created_by="demo",
            )
            s.add(lot)
            await s.flush()
            s.add(
                BrandDecision(
                    lot_id=lot.id,
                    county=county,
                    granted=True,
                    ruleset_version=0,
                    states=[],
                    reason="演示数据 demo seed",
                    trigger="seed",
                )
            )
        number = f"LB-DEMO-{county}"
        if (
            await s.scalar(select(TraceCertificate.id).where(TraceCertificate.number == number))
            is None
        ):
            cert = TraceCertificate(
                type="green_food",
                number=number,
                holder_uscc=org.uscc,
                holder_org_id=org.id,
                holder_name=org.name,
                county=county,
                valid_from=today - timedelta(days=365),
                valid_to=today + timedelta(days=730),
                issuer="中国绿色食品发展中心（演示）",
                created_by="demo",
            )
            s.add(cert)
            await s.flush()
            s.add(TraceCertificateProduct(certificate_id=cert.id, gtin=gtin))
        colour = ((31, 92, 58), (154, 98, 0), (29, 79, 134), (138, 90, 0))[i]
        ent = await _item(
            s,
            ItemIn(
                kind="enterprise",
                org_id=org.id,
                name_en=name_en,
                published=True,
                intro=f"{name}：通过平台自主注册、县级审核的示范主体。",
                intro_en=f"{name_en}: registered itself and approved by the county.",
            ),
            files,
            colour,
        )
        prk = await _item(
            s,
            ItemIn(
                kind="park",
                county=county,
                name=park,
                name_en=park_en,
                lon=lon,
                lat=lat,
                published=True,
                intro=f"{park}：加工、仓储与电商企业集聚区。",
                intro_en=f"{park_en}: processing, storage and e-commerce firms.",
            ),
            files,
            colour,
        )
        itm = await _item(
            s,
            ItemIn(
                kind="product",
                product_id=product.id,
                published=True,
                intro=f"{prod}，可扫码追溯每一批次。",
                intro_en=f"{prod_en}; every lot can be traced.",
            ),
            files,
            colour,
        )
        out[county] = {
            "org": org.id,
            "registrations": [reg.id, pending.id, refused.id],
            "product": product.id,
            "lot": lot_code,
            "gtin": gtin,
            "items": [ent.id, prk.id, itm.id],
        }
    now = datetime.now(UTC)
    articles = [
        ArticleIn(county=PREFECTURE, kind="policy", title="德宏州电子商务进农村综合示范项目实施方案",
                  title_en="Implementation plan of the rural e-commerce programme",
                  summary="项目资金 600 万元，覆盖四县市公共服务、物流与追溯体系。",
                  body_md="## 一、总体目标\n\n建设县乡村三级电商公共服务体系。\n\n"
                  "- 公共服务中心\n- 农村电商信息系统\n- 区域公共品牌与质量追溯\n\n"
                  "详见 [商务部说明](https://www.mofcom.gov.cn/)。",
                  draft=False, publish_at=now - timedelta(days=10)),
        ArticleIn(county="533103", kind="notice", title="芒市电商培训报名通知",
                  title_en="Mangshi e-commerce training: enrolment open",
                  summary="面向合作社与网店经营者，免费参加。",
                  body_md="**时间**：本月下旬\n\n**地点**：芒市电商公共服务中心\n\n请到服务站报名。",
                  draft=False, publish_at=now - timedelta(days=2)),
        ArticleIn(county="533124", kind="news", title="陇川软米上线本地电商平台",
                  title_en="Longchuan soft rice now sold online",
                  body_md="陇川软米经三品一标认证后，通过本地平台销往全国。", draft=False,
                  publish_at=now - timedelta(days=1)),
        ArticleIn(county=PREFECTURE, kind="notice", title="（定时发布）下月统计报表填报提醒",
                  body_md="请各服务站按时填报。", draft=False, publish_at=now + timedelta(days=20)),
        ArticleIn(county=PREFECTURE, kind="policy", title="（草稿）电商扶贫资金管理办法",
                  body_md="草稿，尚未发布。", draft=True),
    ]  # fmt: skip
    ids = []
    for a in articles:
        found = await s.scalar(select(Article.id).where(Article.title == a.title))
        ids.append(found if found is not None else (await cms.create(s, a, ACTOR)).id)
    out["articles"] = ids
    await s.flush()
    return out
