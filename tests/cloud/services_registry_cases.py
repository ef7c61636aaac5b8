"""Records and cases of the registry, showcase and CMS (cloud/services, issue 15):
``SERVICES_CASES`` (tests/cloud/test_api_isolation.py: a role of HOME sees nothing of
OTHER's; the public sees only what is published), ``SERVICES_REQUESTS``
(tests/cloud/test_api_roles.py: one request per route on HOME's records) and
``seed_paged`` (tests/cloud/test_pagination.py)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from cloud.auth.principal import Principal, Role
from cloud.auth.service import create_api_key
from cloud.auth.storage import ApiKey, ApiKeyShop
from cloud.catalog.storage import Organisation, Product
from cloud.catalog.uscc import check_char
from cloud.commerce.storage import Shop
from cloud.inspections.files import files_for
from cloud.services.cms import service as cms
from cloud.services.cms.schemas import ArticleIn
from cloud.services.cms.storage import Article, Attachment
from cloud.services.registry import service as registry
from cloud.services.registry.demo import LICENCE, png
from cloud.services.registry.schemas import RegistrationIn
from cloud.services.registry.storage import PlatformKey, Registration
from cloud.services.showcase import service as showcase
from cloud.services.showcase.schemas import ItemIn
from cloud.services.showcase.storage import ShowcaseItem, ShowcasePhoto
from cloud.trace.certificates.storage import TraceCertificate, TraceCertificateProduct
from tests.support.api import HOME, OTHER, ApiEnv, unlimited

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
Call = Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]
S = "/api/v1/services"
P = "/api/v1/public"
ADMIN = Principal("user", "test", Role.PREFECTURE_ADMIN, "533100")
TABLES = (Registration, PlatformKey, ApiKeyShop, ShowcaseItem, ShowcasePhoto, Article, Attachment)
PDF = LICENCE


def fresh_uscc(county: str) -> str:
    body = f"91{county}MA8{secrets.randbelow(10**6):06d}"
    return body + check_char(body)


async def pending(env: ApiEnv, county: str, *, licence: bool = True) -> tuple[int, str]:
    """A new pending registration of ``county`` (its id and receipt)."""
    async with env.db.transaction() as s:
        reg, receipt = await registry.submit(s, RegistrationIn(
            kind="enterprise", name=f"企业 {secrets.token_hex(3)}", uscc=fresh_uscc(county),
            county=county, contact_name="李四", contact_phone="13900000000"))  # fmt: skip
        if licence:
            key = files_for(env.settings).put(PDF)
            await registry.set_licence(s, reg, sha256=key, content_type="application/pdf",
                                       size=len(PDF))  # fmt: skip
        return reg.id, receipt


async def world(env: ApiEnv, county: str) -> dict[str, Any]:
    """``county``'s records (made once per API under test): a pending registration with
    its licence, a platform organisation with a shop and a key for it, a published
    showcase product entry with a photo and an unpublished park, a published article
    with an attachment and a draft."""
    cache: dict[str, Any] = env.__dict__.setdefault("_services_worlds", {})
    if county in cache:
        return cache[county]  # type: ignore[no-any-return]
    unlimited(env)
    reg, receipt = await pending(env, county)
    files = files_for(env.settings)
    async with env.db.transaction() as s:
        platform = Organisation(kind="platform", name=f"本地平台 {county}", uscc=fresh_uscc(county),
                                county=county, created_by="test")  # fmt: skip
        maker = Organisation(kind="enterprise", name=f"咖啡厂 {county}", uscc=fresh_uscc(county),
                             county=county, created_by="test", contact_name="王五",
                             contact_phone="13700000000")  # fmt: skip
        s.add_all([platform, maker])
        await s.flush()
        shop = Shop(channel="local", platform_shop_id=f"lp-{county}-{secrets.token_hex(3)}",
                    name="本地店", org_id=maker.id, county=county, created_by="test")  # fmt: skip
        product = Product(gtin=f"0690777{county[-3:]}00" + "0", name=f"咖啡 {county}",
                          category="coffee", org_id=maker.id, county=county, created_by="test")  # fmt: skip
        from cloud.catalog.gs1 import gs1_check_digit

        product.gtin = product.gtin[:13] + gs1_check_digit(product.gtin[:13])
        s.add_all([shop, product])
        await s.flush()
        cert = TraceCertificate(type="organic", number=f"OG-{county}", holder_uscc=maker.uscc,
                                holder_org_id=maker.id, holder_name=maker.name, county=county,
                                valid_from=date.today() - timedelta(days=10),
                                valid_to=date.today() + timedelta(days=300), issuer="test",
                                created_by="test")  # fmt: skip
        s.add(cert)
        await s.flush()
        s.add(TraceCertificateProduct(certificate_id=cert.id, gtin=product.gtin))
        new = await create_api_key(s, name="platform", role=Role.PLATFORM, county=county,
                                   actor="test")  # fmt: skip
        s.add(PlatformKey(key_id=new.row.id, org_id=platform.id, county=county, created_by="test"))
        s.add(ApiKeyShop(key_id=new.row.id, shop_id=shop.id, granted_by="test"))
        item = await showcase.create(s, ItemIn(kind="product", product_id=product.id, published=True,
                                               intro="好咖啡"), ADMIN)  # fmt: skip
        data = png((10, 20, 30))
        photo = await showcase.add_photo(s, item, sha256=files.put(data), content_type="image/png",
                                         size=len(data), caption=None, principal=ADMIN)  # fmt: skip
        hidden = await showcase.create(
            s, ItemIn(kind="park", county=county, name="未发布园区"), ADMIN
        )
        data2 = png((200, 0, 0))
        hidden_photo = await showcase.add_photo(s, hidden, sha256=files.put(data2),
                                                content_type="image/png", size=len(data2),
                                                caption=None, principal=ADMIN)  # fmt: skip
        article = await cms.create(s, ArticleIn(county=county, kind="news", title=f"新闻 {county}",
                                                body_md="**好消息**", draft=False,
                                                publish_at=datetime.now(UTC) - timedelta(hours=1)),
                                   ADMIN)  # fmt: skip
        att = await cms.add_attachment(s, article, filename="通知.pdf", sha256=files.put(PDF),
                                       content_type="application/pdf", size=len(PDF),
                                       principal=ADMIN)  # fmt: skip
        draft = await cms.create(s, ArticleIn(county=county, kind="policy", title=f"草稿 {county}",
                                              body_md="未发布"), ADMIN)  # fmt: skip
        draft_att = await cms.add_attachment(s, draft, filename="草稿.pdf", sha256=files.put(PDF),
                                             content_type="application/pdf", size=len(PDF),
                                             principal=ADMIN)  # fmt: skip
    cache[county] = {
        "reg": reg, "receipt": receipt, "platform": platform.id, "maker": maker.id,
        "shop": shop.id, "key_id": new.row.id, "key": new.key, "product": product.id,
        "item": item.id, "photo": photo.id, "hidden": hidden.id, "hidden_photo": hidden_photo.id,
        "article": article.id, "attachment": att.id, "draft": draft.id, "draft_att": draft_att.id,
    }  # fmt: skip
    return cache[county]  # type: ignore[no-any-return]


async def _both(env: ApiEnv) -> tuple[dict[str, Any], dict[str, Any]]:
    return await world(env, HOME), await world(env, OTHER)


async def counts(env: ApiEnv) -> list[int]:
    async with env.db.session() as s:
        return [int(await s.scalar(select(func.count()).select_from(t)) or 0) for t in TABLES]


def _nf(r: httpx.Response) -> None:
    assert r.status_code == 404, (r.request.url, r.status_code, r.text)
    assert "not found" in r.json()["detail"], r.text


Theirs = Callable[[ApiEnv, Headers, dict[str, Any]], Awaitable[httpx.Response]]


def _unchanged(f: Theirs) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        _, theirs = await _both(env)
        before = await counts(env)
        _nf(await f(env, h, theirs))
        assert await counts(env) == before

    return case


def _listed(path: str, key: str, ident: str, *, extra: Callable[[Any], bool] | None = None) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        _, theirs = await _both(env)
        r = await env.client.get(path, headers=h)
        assert r.status_code == 200, r.text
        rows = r.json()
        assert theirs[key] not in {x[ident] for x in rows}, r.text
        assert {x["county"] for x in rows} <= {HOME, "533100"}, r.text
        r = await env.client.get(path, params={"county": OTHER}, headers=h)
        assert r.status_code == 403, r.text

    return case


async def _reg_status_unchanged(env: ApiEnv, reg_id: int) -> None:
    async with env.db.session() as s:
        assert (await s.get_one(Registration, reg_id)).status == "pending"


def _review(action: str) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        reg, _ = await pending(env, OTHER)
        body = {"reason": "不清晰"} if action == "refuse" else None
        before = await counts(env)
        _nf(await env.client.post(f"{S}/registrations/{reg}/{action}", json=body, headers=h))
        await _reg_status_unchanged(env, reg)
        assert await counts(env) == before

    return case


async def _key_post(env: ApiEnv, h: Headers) -> None:
    mine, theirs = await _both(env)
    before = await counts(env)
    r = await env.client.post(f"{S}/platform-keys", headers=h,
                              json={"org_id": theirs["platform"], "name": "x",
                                    "shop_ids": [theirs["shop"]]})  # fmt: skip
    _nf(r)
    assert r.json()["field"] == "body.org_id"
    # its own platform, another county's shop
    r = await env.client.post(f"{S}/platform-keys", headers=h,
                              json={"org_id": mine["platform"], "name": "x",
                                    "shop_ids": [theirs["shop"]]})  # fmt: skip
    _nf(r)
    assert r.json()["field"] == "body.shop_ids.0" and await counts(env) == before


async def _key_revoke(env: ApiEnv, h: Headers) -> None:
    _, theirs = await _both(env)
    _nf(await env.client.delete(f"{S}/platform-keys/{theirs['key_id']}", headers=h))
    async with env.db.session() as s:
        assert (await s.get_one(ApiKey, theirs["key_id"])).revoked_at is None


async def _item_post(env: ApiEnv, h: Headers) -> None:
    _, theirs = await _both(env)
    before = await counts(env)
    r = await env.client.post(f"{S}/showcase/items", headers=h,
                              json={"kind": "enterprise", "org_id": theirs["maker"]})  # fmt: skip
    _nf(r)
    assert r.json()["field"] == "body.org_id"
    r = await env.client.post(f"{S}/showcase/items", headers=h,
                              json={"kind": "park", "county": OTHER, "name": "x"})  # fmt: skip
    assert r.status_code == 403, r.text
    assert await counts(env) == before


async def _article_post(env: ApiEnv, h: Headers) -> None:
    await _both(env)
    before = await counts(env)
    r = await env.client.post(f"{S}/cms/articles", headers=h,
                              json={"county": OTHER, "kind": "news", "title": "x", "body_md": "x"})  # fmt: skip
    assert r.status_code == 403, r.text
    assert await counts(env) == before


# ------------------------------------------------------------------ public routes


async def _public_submit(env: ApiEnv, h: Headers) -> None:
    unlimited(env)
    r = await env.client.post(f"{P}/registrations", headers=h, json={
        "kind": "shop", "name": "网店", "uscc": fresh_uscc(HOME), "county": HOME,
        "contact_name": "赵六", "contact_phone": "13600000000"})  # fmt: skip
    assert r.status_code == 201 and set(r.json()) == {"id", "status", "receipt"}, r.text


async def _public_reg_get(env: ApiEnv, h: Headers) -> None:
    mine, theirs = await _both(env)
    _nf(await env.client.get(f"{P}/registrations/{theirs['reg']}", headers=h))
    # another registration's receipt opens nothing
    _nf(await env.client.get(f"{P}/registrations/{theirs['reg']}",
                             headers={**h, "X-Receipt": mine["receipt"]}))  # fmt: skip
    r = await env.client.get(f"{P}/registrations/{theirs['reg']}",
                             headers={**h, "X-Receipt": theirs["receipt"]})  # fmt: skip
    assert r.status_code == 200 and "contact_phone" not in r.json(), r.text


async def _public_licence(env: ApiEnv, h: Headers) -> None:
    mine, theirs = await _both(env)
    before = await counts(env)
    _nf(await env.client.put(f"{P}/registrations/{theirs['reg']}/licence", content=PDF,
                             headers={**h, "Content-Type": "application/pdf",
                                      "X-Receipt": mine["receipt"]}))  # fmt: skip
    assert await counts(env) == before


def _public_get(path: Callable[[dict[str, Any]], str]) -> Case:
    """An unpublished record of either county is 404 to the public routes."""

    async def case(env: ApiEnv, h: Headers) -> None:
        _, theirs = await _both(env)
        unlimited(env)
        _nf(await env.client.get(path(theirs), headers=h))

    return case


def _public_list(path: str, *, gone: Callable[[dict[str, Any]], Any], key: str) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        _, theirs = await _both(env)
        unlimited(env)
        r = await env.client.get(path, params={"limit": 1000}, headers=h)
        assert r.status_code == 200, r.text
        assert gone(theirs) not in {x[key] for x in r.json()["items"]}, r.text
        for word in ("contact", "phone", "13700000000", "王五", "receipt"):
            assert word not in r.text, (path, word)

    return case


async def _public_enterprises(env: ApiEnv, h: Headers) -> None:
    _, theirs = await _both(env)
    unlimited(env)
    r = await env.client.get(f"{P}/showcase/enterprises", params={"county": HOME, "limit": 1000},
                             headers=h)  # fmt: skip
    assert r.status_code == 200 and theirs["maker"] not in {x["id"] for x in r.json()["items"]}
    assert "王五" not in r.text and "13700000000" not in r.text


async def _public_certified(env: ApiEnv, h: Headers) -> None:
    mine, theirs = await _both(env)
    unlimited(env)
    r = await env.client.get(f"{P}/showcase/certified", params={"county": HOME, "limit": 1000},
                             headers=h)  # fmt: skip
    names = {x["name"] for x in r.json()["items"]}
    assert f"咖啡 {HOME}" in names and f"咖啡 {OTHER}" not in names, r.text


V = "/api/v1"
SERVICES_CASES: dict[tuple[str, str], Case] = {
    ("GET", f"{V}/services/registrations"): _listed(f"{S}/registrations", "reg", "id"),
    ("GET", f"{V}/services/registrations/{{reg_id}}"): _unchanged(
        lambda e, h, t: e.client.get(f"{S}/registrations/{t['reg']}", headers=h)),
    ("GET", f"{V}/services/registrations/{{reg_id}}/licence"): _unchanged(
        lambda e, h, t: e.client.get(f"{S}/registrations/{t['reg']}/licence", headers=h)),
    ("POST", f"{V}/services/registrations/{{reg_id}}/approve"): _review("approve"),
    ("POST", f"{V}/services/registrations/{{reg_id}}/refuse"): _review("refuse"),
    ("POST", f"{V}/services/platform-keys"): _key_post,
    ("GET", f"{V}/services/platform-keys"): _listed(f"{S}/platform-keys", "key_id", "key_id"),
    ("DELETE", f"{V}/services/platform-keys/{{key_id}}"): _key_revoke,
    ("GET", f"{V}/services/showcase/items"): _listed(f"{S}/showcase/items", "item", "id"),
    ("POST", f"{V}/services/showcase/items"): _item_post,
    ("GET", f"{V}/services/showcase/items/{{item_id}}"): _unchanged(
        lambda e, h, t: e.client.get(f"{S}/showcase/items/{t['item']}", headers=h)),
    ("PATCH", f"{V}/services/showcase/items/{{item_id}}"): _unchanged(
        lambda e, h, t: e.client.patch(f"{S}/showcase/items/{t['item']}", headers=h,
                                       json={"published": False})),
    ("POST", f"{V}/services/showcase/items/{{item_id}}/photos"): _unchanged(
        lambda e, h, t: e.client.post(f"{S}/showcase/items/{t['item']}/photos", content=png((1, 2, 3)),
                                      headers={**h, "Content-Type": "image/png"})),
    ("GET", f"{V}/services/showcase/photos/{{photo_id}}"): _unchanged(
        lambda e, h, t: e.client.get(f"{S}/showcase/photos/{t['photo']}", headers=h)),
    ("GET", f"{V}/services/cms/articles"): _listed(f"{S}/cms/articles", "article", "id"),
    ("POST", f"{V}/services/cms/articles"): _article_post,
    ("GET", f"{V}/services/cms/articles/{{article_id}}"): _unchanged(
        lambda e, h, t: e.client.get(f"{S}/cms/articles/{t['draft']}", headers=h)),
    ("PATCH", f"{V}/services/cms/articles/{{article_id}}"): _unchanged(
        lambda e, h, t: e.client.patch(f"{S}/cms/articles/{t['article']}", headers=h,
                                       json={"title": "改"})),
    ("POST", f"{V}/services/cms/articles/{{article_id}}/attachments"): _unchanged(
        lambda e, h, t: e.client.post(f"{S}/cms/articles/{t['article']}/attachments", content=PDF,
                                      params={"filename": "a.pdf"},
                                      headers={**h, "Content-Type": "application/pdf"})),
    ("GET", f"{V}/services/cms/articles/{{article_id}}/attachments/{{attachment_id}}"): _unchanged(
        lambda e, h, t: e.client.get(
            f"{S}/cms/articles/{t['draft']}/attachments/{t['draft_att']}", headers=h)),
    # public: nothing unpublished, no contact, another's receipt opens nothing
    ("POST", f"{V}/public/registrations"): _public_submit,
    ("GET", f"{V}/public/registrations/{{reg_id}}"): _public_reg_get,
    ("PUT", f"{V}/public/registrations/{{reg_id}}/licence"): _public_licence,
    ("GET", f"{V}/public/showcase"): _public_list(f"{P}/showcase", gone=lambda t: t["hidden"], key="id"),
    ("GET", f"{V}/public/showcase/items/{{item_id}}"): _public_get(
        lambda t: f"{P}/showcase/items/{t['hidden']}"),
    ("GET", f"{V}/public/showcase/photos/{{photo_id}}"): _public_get(
        lambda t: f"{P}/showcase/photos/{t['hidden_photo']}"),
    ("GET", f"{V}/public/showcase/certified"): _public_certified,
    ("GET", f"{V}/public/showcase/enterprises"): _public_enterprises,
    ("GET", f"{V}/public/policies"): _public_list(f"{P}/policies", gone=lambda t: t["draft"], key="id"),
    ("GET", f"{V}/public/policies/{{article_id}}"): _public_get(
        lambda t: f"{P}/policies/{t['draft']}"),
    ("GET", f"{V}/public/policies/{{article_id}}/attachments/{{attachment_id}}"): _public_get(
        lambda t: f"{P}/policies/{t['draft']}/attachments/{t['draft_att']}"),
}  # fmt: skip


# ---------------------------------------------------------------- roles x endpoints


def _call(f: Theirs) -> Call:
    async def call(env: ApiEnv, h: Headers) -> httpx.Response:
        w = await world(env, HOME)
        unlimited(env)
        return await f(env, h, w)

    return call


async def _fresh_review(env: ApiEnv, h: Headers, action: str) -> httpx.Response:
    reg, _ = await pending(env, HOME)
    body = {"reason": "扫描件不清晰"} if action == "refuse" else None
    return await env.client.post(f"{S}/registrations/{reg}/{action}", json=body, headers=h)


async def _fresh_revoke(env: ApiEnv, h: Headers) -> httpx.Response:
    w = await world(env, HOME)
    async with env.db.transaction() as s:
        new = await create_api_key(s, name="p", role=Role.PLATFORM, county=HOME, actor="test")
        s.add(PlatformKey(key_id=new.row.id, org_id=w["platform"], county=HOME, created_by="test"))
    return await env.client.delete(f"{S}/platform-keys/{new.row.id}", headers=h)


SERVICES_REQUESTS: dict[tuple[str, str], Call] = {
    ("GET", f"{V}/services/registrations"): _call(
        lambda e, h, w: e.client.get(f"{S}/registrations", headers=h)),
    ("GET", f"{V}/services/registrations/{{reg_id}}"): _call(
        lambda e, h, w: e.client.get(f"{S}/registrations/{w['reg']}", headers=h)),
    ("GET", f"{V}/services/registrations/{{reg_id}}/licence"): _call(
        lambda e, h, w: e.client.get(f"{S}/registrations/{w['reg']}/licence", headers=h)),
    ("POST", f"{V}/services/registrations/{{reg_id}}/approve"): lambda e, h: _fresh_review(e, h, "approve"),
    ("POST", f"{V}/services/registrations/{{reg_id}}/refuse"): lambda e, h: _fresh_review(e, h, "refuse"),
    ("POST", f"{V}/services/platform-keys"): _call(
        lambda e, h, w: e.client.post(f"{S}/platform-keys", headers=h, json={
            "org_id": w["platform"], "name": "k", "shop_ids": [w["shop"]]})),
    ("GET", f"{V}/services/platform-keys"): _call(
        lambda e, h, w: e.client.get(f"{S}/platform-keys", headers=h)),
    ("DELETE", f"{V}/services/platform-keys/{{key_id}}"): _fresh_revoke,
    ("GET", f"{V}/services/showcase/items"): _call(
        lambda e, h, w: e.client.get(f"{S}/showcase/items", headers=h)),
    ("POST", f"{V}/services/showcase/items"): _call(
        lambda e, h, w: e.client.post(f"{S}/showcase/items", headers=h,
                                      json={"kind": "park", "county": HOME, "name": "园区"})),
    ("GET", f"{V}/services/showcase/items/{{item_id}}"): _call(
        lambda e, h, w: e.client.get(f"{S}/showcase/items/{w['item']}", headers=h)),
    ("PATCH", f"{V}/services/showcase/items/{{item_id}}"): _call(
        lambda e, h, w: e.client.patch(f"{S}/showcase/items/{w['item']}", headers=h,
                                       json={"intro": "好咖啡"})),
    ("POST", f"{V}/services/showcase/items/{{item_id}}/photos"): _call(
        lambda e, h, w: e.client.post(f"{S}/showcase/items/{w['hidden']}/photos",
                                      content=png((9, 9, 9)),
                                      headers={**h, "Content-Type": "image/png"})),
    ("GET", f"{V}/services/showcase/photos/{{photo_id}}"): _call(
        lambda e, h, w: e.client.get(f"{S}/showcase/photos/{w['photo']}", headers=h)),
    ("GET", f"{V}/services/cms/articles"): _call(
        lambda e, h, w: e.client.get(f"{S}/cms/articles", headers=h)),
    ("POST", f"{V}/services/cms/articles"): _call(
        lambda e, h, w: e.client.post(f"{S}/cms/articles", headers=h, json={
            "county": HOME, "kind": "notice", "title": "通知", "body_md": "内容"})),
    ("GET", f"{V}/services/cms/articles/{{article_id}}"): _call(
        lambda e, h, w: e.client.get(f"{S}/cms/articles/{w['draft']}", headers=h)),
    ("PATCH", f"{V}/services/cms/articles/{{article_id}}"): _call(
        lambda e, h, w: e.client.patch(f"{S}/cms/articles/{w['draft']}", headers=h,
                                       json={"summary": "摘要"})),
    ("POST", f"{V}/services/cms/articles/{{article_id}}/attachments"): _call(
        lambda e, h, w: e.client.post(f"{S}/cms/articles/{w['draft']}/attachments", content=PDF,
                                      params={"filename": "b.pdf"},
                                      headers={**h, "Content-Type": "application/pdf"})),
    ("GET", f"{V}/services/cms/articles/{{article_id}}/attachments/{{attachment_id}}"): _call(
        lambda e, h, w: e.client.get(f"{S}/cms/articles/{w['draft']}/attachments/{w['draft_att']}",
                                     headers=h)),
    ("POST", f"{V}/public/registrations"): _call(
        lambda e, h, w: e.client.post(f"{P}/registrations", headers=h, json={
            "kind": "station", "name": "服务站", "uscc": fresh_uscc(HOME), "county": HOME,
            "contact_name": "站长", "contact_phone": "13500000000"})),
    ("GET", f"{V}/public/registrations/{{reg_id}}"): _call(
        lambda e, h, w: e.client.get(f"{P}/registrations/{w['reg']}",
                                     headers={**h, "X-Receipt": w["receipt"]})),
    ("PUT", f"{V}/public/registrations/{{reg_id}}/licence"): _call(
        lambda e, h, w: e.client.put(f"{P}/registrations/{w['reg']}/licence", content=PDF,
                                     headers={**h, "X-Receipt": w["receipt"],
                                              "Content-Type": "application/pdf"})),
    ("GET", f"{V}/public/showcase"): _call(lambda e, h, w: e.client.get(f"{P}/showcase", headers=h)),
    ("GET", f"{V}/public/showcase/items/{{item_id}}"): _call(
        lambda e, h, w: e.client.get(f"{P}/showcase/items/{w['item']}", headers=h)),
    ("GET", f"{V}/public/showcase/photos/{{photo_id}}"): _call(
        lambda e, h, w: e.client.get(f"{P}/showcase/photos/{w['photo']}", headers=h)),
    ("GET", f"{V}/public/showcase/certified"): _call(
        lambda e, h, w: e.client.get(f"{P}/showcase/certified", headers=h)),
    ("GET", f"{V}/public/showcase/enterprises"): _call(
        lambda e, h, w: e.client.get(f"{P}/showcase/enterprises", headers=h)),
    ("GET", f"{V}/public/policies"): _call(lambda e, h, w: e.client.get(f"{P}/policies", headers=h)),
    ("GET", f"{V}/public/policies/{{article_id}}"): _call(
        lambda e, h, w: e.client.get(f"{P}/policies/{w['article']}", headers=h)),
    ("GET", f"{V}/public/policies/{{article_id}}/attachments/{{attachment_id}}"): _call(
        lambda e, h, w: e.client.get(f"{P}/policies/{w['article']}/attachments/{w['attachment']}",
                                     headers=h)),
    ("GET", "/h5/showcase"): _call(lambda e, h, w: e.client.get("/h5/showcase", headers=h)),
    ("GET", "/h5/showcase/{item_id}"): _call(
        lambda e, h, w: e.client.get(f"/h5/showcase/{w['item']}", headers=h)),
    ("GET", "/h5/policies"): _call(lambda e, h, w: e.client.get("/h5/policies", headers=h)),
    ("GET", "/h5/policies/{article_id}"): _call(
        lambda e, h, w: e.client.get(f"/h5/policies/{w['article']}", headers=h)),
}  # fmt: skip


# ------------------------------------------------------------------------ pagination


async def seed_paged(env: ApiEnv, n: int) -> None:
    """``n`` registrations, platform keys, showcase entries (published) with certified
    products, and published articles in each of HOME and OTHER, for the list walks."""
    unlimited(env)
    async with env.db.transaction() as s:
        for county in (HOME, OTHER):
            platform = Organisation(kind="platform", name=f"平台 {county}", uscc=fresh_uscc(county),
                                    county=county, created_by="test")  # fmt: skip
            s.add(platform)
            await s.flush()
            for i in range(n):
                reg, _ = await registry.submit(s, RegistrationIn(
                    kind="shop", name=f"店 {county} {i}", uscc=fresh_uscc(county), county=county,
                    contact_name="x", contact_phone="13400000000"))  # fmt: skip
                new = await create_api_key(s, name=f"p{i}", role=Role.PLATFORM, county=county,
                                           actor="test")  # fmt: skip
                s.add(PlatformKey(key_id=new.row.id, org_id=platform.id, county=county,
                                  created_by="test"))  # fmt: skip
                await showcase.create(s, ItemIn(kind="park", county=county, name=f"园 {i}",
                                                published=True), ADMIN)  # fmt: skip
                await cms.create(s, ArticleIn(county=county, kind="news", title=f"新闻 {county} {i}",
                                              body_md="x", draft=False,
                                              publish_at=datetime(2026, 1, 1, tzinfo=UTC)), ADMIN)  # fmt: skip
                from cloud.catalog.gs1 import gs1_check_digit

                body = f"0690888{county[-3:]}{i:02d}0"[:13]
                p = Product(gtin=body + gs1_check_digit(body), name=f"认证品 {i}", category="tea",
                            org_id=platform.id, county=county, created_by="test")  # fmt: skip
                s.add(p)
                cert = TraceCertificate(type="green_food", number=f"P-{county}-{i}",
                                        holder_uscc=platform.uscc, holder_name="x", county=county,
                                        valid_from=date(2020, 1, 1), valid_to=date(2099, 1, 1),
                                        issuer="t", created_by="test")  # fmt: skip
                s.add(cert)
                await s.flush()
                s.add(TraceCertificateProduct(certificate_id=cert.id, gtin=p.gtin))
                assert reg.id
