"""Commodity profiles and products.

A profile is the prefecture's (county 533100, every county uses it) or one county's.
A product names the profile its lots are kept by; the profile must fit the product's
category. A change of a profile is pushed to the gateways of every room it is
assigned to (the caller does, once committed: :mod:`cloud.catalog.push`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import record
from cloud.catalog.edits import set_changed
from cloud.catalog.errors import CatalogError
from cloud.catalog.products_schemas import check_profile_values
from cloud.catalog.storage import CommodityProfile, Organisation, Product
from cloud.db import utcnow
from protocol.ids import PREFECTURE

# -------------------------------------------------------------------------- profiles

PROFILE_VALUES = (
    "temp_min_c", "temp_max_c", "single_excursion_max_s", "cumulative_excursion_max_s",
    "rh_min", "rh_max",
)  # fmt: skip


async def _name_free(s: AsyncSession, county: str, name: str, profile_id: int | None) -> None:
    q = select(CommodityProfile.id).where(
        CommodityProfile.county == county, CommodityProfile.name == name
    )
    if profile_id is not None:
        q = q.where(CommodityProfile.id != profile_id)
    if await s.scalar(q) is not None:
        raise CatalogError(409, f"county {county} has a profile named {name!r}", "body.name")


async def create_profile(
    s: AsyncSession, values: dict[str, Any], *, actor: str
) -> CommodityProfile:
    """``values``: the fields of :class:`ProfileCreate` (validated)."""
    await _name_free(s, values["county"], values["name"], None)
    profile = CommodityProfile(**values, created_at=utcnow(), created_by=actor)
    s.add(profile)
    await s.flush()
    await record(
        s, actor, "profile.created", f"profile:{profile.id}", profile.county,
        {k: values[k] for k in (*PROFILE_VALUES, "name", "categories")},
    )  # fmt: skip
    return profile


async def update_profile(
    s: AsyncSession, profile: CommodityProfile, changes: dict[str, Any], *, actor: str
) -> bool:
    """Apply ``changes``; True when a value the gateways enforce changed (push it)."""
    merged = {k: changes.get(k, getattr(profile, k)) for k in PROFILE_VALUES}
    try:
        check_profile_values(*(merged[k] for k in PROFILE_VALUES))
    except ValueError as exc:
        field, _, reason = str(exc).partition(": ")
        raise CatalogError(422, reason, f"body.{field}") from None
    if "name" in changes:
        await _name_free(s, profile.county, changes["name"], profile.id)
    if "categories" in changes:
        await _categories_still_fit(s, profile, set(changes["categories"]))
    done = set_changed(profile, changes)
    if not done:
        return False
    await s.flush()
    await record(s, actor, "profile.updated", f"profile:{profile.id}", profile.county, done)
    return bool(set(done) & {*PROFILE_VALUES, "name", "name_en"})


async def _categories_still_fit(
    s: AsyncSession, profile: CommodityProfile, categories: set[str]
) -> None:
    rows = await s.execute(
        select(Product.category, func.count())
        .where(Product.profile_id == profile.id, Product.category.not_in(categories))
        .group_by(Product.category)
    )
    left = {c: n for c, n in rows}
    if left:
        listed = ", ".join(f"{c} ({n} products)" for c, n in sorted(left.items()))
        raise CatalogError(
            409,
            f"products of {listed} use this profile; keep their categories or give those "
            "products another profile first",
            "body.categories",
        )


def profiles_query(counties: list[str] | None) -> Select[Any]:
    """Profiles of ``counties`` and the prefecture's (None: all)."""
    q = select(CommodityProfile)
    if counties is not None:
        q = q.where(CommodityProfile.county.in_([*counties, PREFECTURE]))
    return q


# -------------------------------------------------------------------------- products


def _profile_fits(profile: CommodityProfile | None, category: str, county: str) -> None:
    if profile is None:
        return
    if profile.county not in (PREFECTURE, county):
        raise CatalogError(404, f"commodity profile {profile.id} not found", "body.profile_id")
    if category not in profile.categories:
        raise CatalogError(
            422,
            f"profile {profile.id} ({profile.name}) fits {', '.join(profile.categories)}, "
            f"not {category}; choose a profile for {category} or add it to the profile",
            "body.profile_id",
        )


async def create_product(
    s: AsyncSession,
    *,
    gtin: str,
    name: str,
    name_en: str | None,
    category: str,
    org: Organisation,
    profile: CommodityProfile | None,
    actor: str,
) -> Product:
    taken = await s.scalar(select(Product.id).where(Product.gtin == gtin))
    if taken is not None:
        raise CatalogError(409, f"GTIN {gtin} is registered to product {taken}", "body.gtin")
    _profile_fits(profile, category, org.county)
    product = Product(
        gtin=gtin, name=name, name_en=name_en, category=category, org_id=org.id,
        county=org.county, profile_id=profile.id if profile else None, created_at=utcnow(),
        created_by=actor,
    )  # fmt: skip
    s.add(product)
    await s.flush()
    await record(
        s, actor, "product.created", f"product:{product.id}", product.county,
        {"gtin": gtin, "name": name, "category": category, "org_id": org.id,
         "profile_id": product.profile_id},
    )  # fmt: skip
    return product


async def update_product(
    s: AsyncSession,
    product: Product,
    changes: dict[str, Any],
    *,
    profile: CommodityProfile | None,
    actor: str,
) -> Product:
    """``changes``: name, name_en, category, profile_id (``profile`` is it; None removes)."""
    category = changes.get("category", product.category)
    if "profile_id" in changes:
        _profile_fits(profile, category, product.county)
    elif "category" in changes and product.profile_id is not None:
        current = await s.get(CommodityProfile, product.profile_id)
        if current is not None and category not in current.categories:
            raise CatalogError(
                422,
                f"the product's profile {current.id} ({current.name}) fits "
                f"{', '.join(current.categories)}, not {category}; give a profile_id too",
                "body.category",
            )
    done = set_changed(product, changes)
    if done:
        await s.flush()
        await record(s, actor, "product.updated", f"product:{product.id}", product.county, done)
    return product


def products_query(
    counties: list[str] | None,
    *,
    org_id: int | None = None,
    category: str | None = None,
    gtin: str | None = None,
    profile_id: int | None = None,
) -> Select[Any]:
    q = select(Product)
    if counties is not None:
        q = q.where(Product.county.in_(counties))
    if org_id is not None:
        q = q.where(Product.org_id == org_id)
    if category is not None:
        q = q.where(Product.category == category)
    if gtin is not None:
        q = q.where(Product.gtin == gtin)
    if profile_id is not None:
        q = q.where(Product.profile_id == profile_id)
    return q
