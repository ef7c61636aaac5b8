"""Request and response bodies of ``/api/v1/commerce``; money is yuan as Decimal."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

Channel = Literal["taobao", "jd", "pinduoduo", "douyin", "wechat", "local", "station"]
Status = Literal["paid", "shipped", "delivered", "completed", "cancelled", "refunded"]
GroupKey = Literal["county", "month", "category", "channel"]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: A platform's id: printable, no spaces at the ends.
PLATFORM_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")


def check_month(v: str) -> str:
    if not MONTH_RE.match(v):
        raise ValueError(f"{v!r} is not a month (YYYY-MM)")
    return v


Month = Annotated[str, AfterValidator(check_month)]


def check_aware(v: datetime) -> datetime:
    """A time with its offset, that exists in UTC too (not past year 9999 or before 1)."""
    if v.tzinfo is None:
        raise ValueError("give a time zone offset (for example +08:00)")
    try:
        v.astimezone(UTC)
    except OverflowError:
        raise ValueError("off the calendar in UTC") from None
    return v


#: Yuan: at most 2 decimals (fen), never negative, under 100 million per line.
Yuan = Annotated[Decimal, Field(ge=0, le=Decimal("99999999.99"), max_digits=10, decimal_places=2)]
PlatformId = Annotated[str, Field(pattern=PLATFORM_ID_RE.pattern)]


class ShopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    platform_shop_id: PlatformId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    org_id: Id = Field(description="the enterprise or cooperative running it (catalog)")


class ShopOut(BaseModel):
    id: int
    channel: str
    platform_shop_id: str
    name: str
    org_id: int
    county: str
    created_at: datetime


class SkuMapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Annotated[str, Field(min_length=1, max_length=64)]
    product_id: Id


class SkuMapOut(BaseModel):
    shop_id: int
    sku: str
    product_id: int


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Id | None = None
    gtin: Annotated[str, Field(pattern=r"^\d{8}$|^\d{12,14}$")] | None = None
    sku: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    title: Annotated[str, Field(max_length=200)] | None = None
    quantity: Annotated[int, Field(ge=1, le=1_000_000)]
    amount: Yuan = Field(description="what the buyer paid for the line, yuan")


class OrderIn(BaseModel):
    """An order as a platform reports it. Idempotent on (channel of the shop,
    ``platform_order_id``): the same body again is the same order (200), another body
    under the same key is 409."""

    model_config = ConfigDict(extra="forbid")

    shop_id: Id
    platform_order_id: PlatformId
    ordered_at: datetime = Field(description="with its offset; naive is refused")
    status: Status = "paid"
    dest_city: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="the buyer's city (市/县) only: never a name, phone or address"
    )
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=200)]

    @field_validator("ordered_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return check_aware(v)


class LineOut(BaseModel):
    line_no: int
    product_id: int | None
    gtin: str | None
    sku: str | None
    title: str | None
    quantity: int
    amount: Decimal
    refunded: Decimal
    category: str


class EventOut(BaseModel):
    kind: str
    status: str | None
    refund: Decimal | None
    line_no: int | None
    refund_id: str | None
    at: datetime


class OrderOut(BaseModel):
    id: int
    shop_id: int
    channel: str
    county: str
    platform_order_id: str
    ordered_at: datetime
    month: str
    status: str
    amount: Decimal
    refunded: Decimal
    dest_city: str | None
    dest_county: str | None
    source: str
    lines: list[LineOut]
    events: list[EventOut]


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status
    at: datetime

    @field_validator("at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return check_aware(v)


class RefundIn(BaseModel):
    """A refund, idempotent on (order, ``refund_id``)."""

    model_config = ConfigDict(extra="forbid")

    refund_id: PlatformId
    amount: Annotated[Yuan, Field(gt=0)]
    line_no: Annotated[int, Field(ge=1, le=200)] | None = Field(
        default=None, description="the line refunded; none: spread over the lines by amount"
    )
    at: datetime

    @field_validator("at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return check_aware(v)


class Change(BaseModel):
    """Change of each indicator against a previous period: a ratio (0.125 is +12.5 %);
    for ``local_produce_share`` the difference of the two shares. None: no base."""

    online_retail_sales: Decimal | None = None
    farm_online_retail_sales: Decimal | None = None
    order_count: Decimal | None = None
    parcels_out: Decimal | None = None
    parcels_in: Decimal | None = None
    local_produce_share: Decimal | None = None
    active_shops: Decimal | None = None


class IndicatorRow(BaseModel):
    """The programme's indicators for one group (definitions: cloud/commerce/README.md).
    A group key not grouped by is None."""

    county: str | None = None
    month: str | None = None
    category: str | None = None
    channel: str | None = None
    online_retail_sales: Decimal
    farm_online_retail_sales: Decimal
    order_count: int
    parcels_out: int
    parcels_in: int
    local_produce_share: Decimal | None
    active_shops: int
    yoy: dict[str, Decimal | None]
    mom: dict[str, Decimal | None]


class TopProduct(BaseModel):
    product_id: int
    gtin: str | None
    name: str
    category: str
    county: str
    sales: Decimal
    quantity: int
    order_count: int


class DayCount(BaseModel):
    day: date
    order_count: int
    sales: Decimal


class RowError(BaseModel):
    row: int = Field(description="1-based row of the file, the header being row 1")
    field: str
    reason: str


class ImportReport(BaseModel):
    """What an import found (and did). ``imported`` is true only when every row was
    good and it was not a dry run: then every order of the file was recorded."""

    template: str
    dry_run: bool
    encoding: str = Field(description="utf-8, gbk or xlsx")
    rows: int = Field(description="data rows (the header not counted)")
    orders: int
    lines: int
    bad_rows: int
    imported: bool
    errors: list[RowError] = Field(description="the first 1,000 bad rows' problems, by row")
    unmapped_skus: list[str] = Field(
        description="SKUs (or GTINs) of no product: counted in 网络零售额, not in 农产品"
    )
