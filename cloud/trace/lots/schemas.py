"""Lot input and output: GTIN-14, the AI 10 lot number, quantity with its UN/ECE
Recommendation 20 unit."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cloud.catalog.gs1 import check_gtin

#: GS1 General Specifications §7.11, Figure 7.11-1: the AI encodable character set 82
SET_82 = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)
LOT_MAX = 20
#: UN/ECE Recommendation 20 common codes: 2-3 upper-case letters or digits (KGM, TNE, H87)
_UNIT = re.compile(r"[A-Z0-9]{2,3}")


def check_lot_number(value: str) -> str:
    """A GS1 lot number (AI 10): 1-20 characters of set 82, or ValueError saying why."""
    if not isinstance(value, str) or not value:
        raise ValueError("a lot number (GS1 AI 10) has 1 to 20 characters")
    if len(value) > LOT_MAX:
        raise ValueError(f"a lot number (GS1 AI 10) has at most 20 characters, not {len(value)}")
    bad = sorted({c for c in value if c not in SET_82})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise ValueError(
            f"a lot number (GS1 AI 10) uses GS1's character set 82 (letters A-Z a-z, digits "
            f"and !\"%&'()*+,-./:;<=>?_); not {shown}"
        )
    return value


def check_unit(value: str) -> str:
    if not _UNIT.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a UN/ECE Recommendation 20 unit code: use 2-3 upper-case "
            "letters or digits, e.g. KGM (kilogram), TNE (tonne), H87 (piece)"
        )
    return value


Gtin = Annotated[str, AfterValidator(check_gtin)]
LotNumber = Annotated[str, AfterValidator(check_lot_number)]
Unit = Annotated[str, AfterValidator(check_unit)]


class LotRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gtin: Gtin = Field(description="GTIN-8/12/13/14 (stored as GTIN-14), check digit verified")
    lot: LotNumber = Field(description="Lot number (GS1 AI 10): 1-20 characters of set 82")


class LotCreate(LotRef):
    org_id: int = Field(
        ge=1, le=2**31 - 1, description="The producing organisation; the lot is of its county"
    )
    quantity: Decimal | None = Field(default=None, gt=0, max_digits=20, decimal_places=6)
    unit: Unit | None = Field(default=None, description="UN/ECE Rec. 20 code, e.g. KGM")
    origin_base_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="The production base it comes from"
    )
    produced_on: date | None = Field(default=None, description="Harvest or production date")
    parents: list[LotRef] = Field(
        default_factory=list, max_length=1000, description="Lots it was made from"
    )


class LotOut(BaseModel):
    id: int
    gtin: str
    lot: str
    county: str
    org_id: int
    product_id: int | None
    quantity: Decimal | None
    unit: str | None
    origin_base_id: int | None
    produced_on: date | None
    created_at: datetime
    parents: list[LotRef] = Field(default_factory=list)
    #: Digital Link URI of the lot (its epcClass in events)
    uri: str


class LotPage(BaseModel):
    items: list[LotOut]
