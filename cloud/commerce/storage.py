"""E-commerce tables: shops, their platform-SKU mappings, orders, lines and status events.

Money is stored as whole fen (分, ``BigInteger``): exact on SQLite and PostgreSQL alike,
summed exactly by SQL; the API speaks yuan as :class:`~decimal.Decimal`. An order
carries its Beijing month and day (``month`` ``YYYY-MM``, ``day``) so that indicators
group by them without time-zone arithmetic in SQL; a line carries its order's county,
month, channel and shop and the category of its product at the time it was recorded,
so that an indicator is one ``GROUP BY`` on lines.

No buyer's name, phone or address is stored anywhere: only the destination city (and
its county when the city is one of Dehong's).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

SERIAL = BigInteger().with_variant(Integer(), "sqlite")

#: The sales channels (code -> Chinese, English).
CHANNELS: dict[str, tuple[str, str]] = {
    "taobao": ("淘宝/天猫", "Taobao / Tmall"),
    "jd": ("京东", "JD"),
    "pinduoduo": ("拼多多", "Pinduoduo"),
    "douyin": ("抖音", "Douyin"),
    "wechat": ("微信小程序/小商店", "WeChat mini-shop"),
    "local": ("本地平台", "local platform"),
    "station": ("服务站代购代销", "offline-to-online station sales"),
}

#: Order statuses. ``cancelled``: closed before payment or before shipping (not a sale);
#: ``refunded``: fully refunded after payment (its lines' refunds equal their amounts).
STATUSES = ("paid", "shipped", "delivered", "completed", "cancelled", "refunded")
#: The statuses an order may move to from each status.
TRANSITIONS: dict[str, frozenset[str]] = {
    "paid": frozenset({"shipped", "cancelled", "refunded"}),
    "shipped": frozenset({"delivered", "completed", "refunded"}),
    "delivered": frozenset({"completed", "refunded"}),
    "completed": frozenset({"refunded"}),
    "cancelled": frozenset(),
    "refunded": frozenset(),
}
#: Statuses of a parcel that left (express parcels out).
SHIPPED = frozenset({"shipped", "delivered", "completed"})

#: The category of a line whose SKU maps to no product of the catalogue.
UNMAPPED = "unmapped"


class Shop(Base):
    __tablename__ = "commerce_shops"
    __table_args__ = (UniqueConstraint("channel", "platform_shop_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    #: The shop's id on its platform (a station's own code for station sales).
    platform_shop_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    #: The enterprise or cooperative that runs it (a catalog organisation).
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class SkuMap(Base):
    """A platform SKU (商家编码) of a shop -> a product of the catalogue."""

    __tablename__ = "commerce_sku_map"
    __table_args__ = (UniqueConstraint("shop_id", "sku"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("commerce_shops.id"))
    sku: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class Order(Base):
    __tablename__ = "commerce_orders"
    __table_args__ = (
        UniqueConstraint("channel", "platform_order_id"),
        Index("ix_commerce_orders_county_month", "county", "month"),
        Index("ix_commerce_orders_dest_county_month", "dest_county", "month"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("commerce_shops.id"), index=True)
    #: The shop's channel, county and organisation (copied: orders never move shop).
    channel: Mapped[str] = mapped_column(String(16))
    county: Mapped[str] = mapped_column(String(6))
    org_id: Mapped[int] = mapped_column(Integer)
    platform_order_id: Mapped[str] = mapped_column(String(64))
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Beijing month (``YYYY-MM``) and day of ``ordered_at``.
    month: Mapped[str] = mapped_column(String(7))
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: When it left as an express parcel (status ``shipped``, or imported past it).
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The buyer's destination city (市/县 name as the platform gives it); never more.
    dest_city: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Its county code when the city is one of Dehong's counties (express parcels in).
    dest_county: Mapped[str | None] = mapped_column(String(6), nullable=True)
    #: SHA-256 of the canonical order body: a retry with the same body is the same
    #: order, another body under the same key is a conflict.
    body_hash: Mapped[str] = mapped_column(String(64))
    #: ``api`` or ``import:<template>``, or ``sim``.
    source: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OrderLine(Base):
    __tablename__ = "commerce_order_lines"
    __table_args__ = (
        Index("ix_commerce_order_lines_county_month", "county", "month"),
        Index("ix_commerce_order_lines_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("commerce_orders.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gtin: Mapped[str | None] = mapped_column(String(14), nullable=True)
    sku: Mapped[str | None] = mapped_column(String(64), nullable=True)
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    quantity: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The product's category when recorded (:data:`UNMAPPED` without a product).
    category: Mapped[str] = mapped_column(String(24))
    #: A farm product (网络零售额 of 农产品): a mapped product of a farm category.
    farm: Mapped[bool] = mapped_column(Boolean)
    #: Local produce: the product belongs to an organisation of one of the four counties.
    local: Mapped[bool] = mapped_column(Boolean)
    # The order's, copied for one-table grouping.
    county: Mapped[str] = mapped_column(String(6))
    month: Mapped[str] = mapped_column(String(7))
    channel: Mapped[str] = mapped_column(String(16))
    shop_id: Mapped[int] = mapped_column(Integer)
    #: False once the order is cancelled: such a line counts in no indicator.
    counted: Mapped[bool] = mapped_column(Boolean, default=True)


class OrderEvent(Base):
    """A status change or a refund of an order."""

    __tablename__ = "commerce_order_events"
    __table_args__ = (UniqueConstraint("order_id", "refund_id"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("commerce_orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # status | refund
    status: Mapped[str | None] = mapped_column(String(12), nullable=True)
    refund_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    line_no: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The platform's refund id: a refund is idempotent on (order, refund id).
    refund_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(128))
