"""Each platform's order export: its column names, its status words, where the buyer's
destination is. One row of an export is one line of an order; rows of one order share
its order id (and must agree on its time, status and destination).

Every column a template does not name is ignored, and the buyer's name, phone and
address columns are named only to be dropped: of an address only the city is kept
(:mod:`cloud.commerce.places`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Platform status words -> our status (shared by every template; case-insensitive).
STATUS_WORDS: dict[str, str] = {
    # paid, not yet shipped
    "买家已付款": "paid",
    "等待卖家发货": "paid",
    "待发货": "paid",
    "已付款": "paid",
    "等待出库": "paid",
    "paid": "paid",
    # shipped
    "卖家已发货": "shipped",
    "等待买家确认收货": "shipped",
    "已发货": "shipped",
    "待收货": "shipped",
    "等待确认收货": "shipped",
    "shipped": "shipped",
    # delivered, completed
    "已签收": "delivered",
    "delivered": "delivered",
    "交易成功": "completed",
    "已完成": "completed",
    "完成": "completed",
    "completed": "completed",
    # closed before a sale
    "交易关闭": "cancelled",
    "已取消": "cancelled",
    "已关闭": "cancelled",
    "等待买家付款": "cancelled",
    "待付款": "cancelled",
    "cancelled": "cancelled",
    # refunded in full
    "退款成功": "refunded",
    "已退款": "refunded",
    "售后完成": "refunded",
    "refunded": "refunded",
}


@dataclass(frozen=True)
class Template:
    name: str
    #: The channels whose shops export this way.
    channels: tuple[str, ...]
    #: our field -> the export's column (its header, exactly).
    columns: dict[str, str]
    #: The buyer's columns this export has, dropped unread (named so that tests and
    #: readers can see what is dropped).
    personal: tuple[str, ...] = ()
    #: The destination: "city" (a city column), "parts" (province, city, district
    #: columns) or "address" (a free-text address, cut to its city).
    destination: str = "city"
    required: tuple[str, ...] = field(default=("order_id", "ordered_at", "status", "quantity",
                                                "amount"))  # fmt: skip


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            "taobao",
            ("taobao",),
            {
                "order_id": "订单编号",
                "ordered_at": "订单创建时间",
                "status": "订单状态",
                "sku": "商家编码",
                "title": "宝贝标题",
                "quantity": "购买数量",
                "amount": "实付金额",
                "address": "收货地址",
            },
            personal=("买家会员名", "收货人姓名", "联系手机", "收货地址"),
            destination="address",
        ),
        Template(
            "jd",
            ("jd",),
            {
                "order_id": "订单号",
                "ordered_at": "下单时间",
                "status": "订单状态",
                "sku": "商品编号",
                "title": "商品名称",
                "quantity": "订购数量",
                "amount": "应付金额",
                "address": "客户地址",
            },
            personal=("客户姓名", "联系电话", "客户地址"),
            destination="address",
        ),
        Template(
            "pinduoduo",
            ("pinduoduo",),
            {
                "order_id": "订单号",
                "ordered_at": "订单成交时间",
                "status": "订单状态",
                "sku": "商家编码-SKU维度",
                "title": "商品",
                "quantity": "商品数量(件)",
                "amount": "商家实收金额(元)",
                "province": "省",
                "city": "市",
                "district": "区",
            },
            personal=("收货人", "手机", "街道"),
            destination="parts",
        ),
        Template(
            "douyin",
            ("douyin",),
            {
                "order_id": "主订单编号",
                "ordered_at": "订单提交时间",
                "status": "订单状态",
                "sku": "商家编码",
                "title": "选购商品",
                "quantity": "商品数量",
                "amount": "订单应付金额",
                "province": "省",
                "city": "市",
                "district": "区",
            },
            personal=("收件人", "收件人手机号", "街道", "详细地址"),
            destination="parts",
        ),
        Template(
            "wechat",
            ("wechat",),
            {
                "order_id": "订单号",
                "ordered_at": "下单时间",
                "status": "订单状态",
                "sku": "SKU编码",
                "title": "商品名称",
                "quantity": "数量",
                "amount": "实付金额",
                "address": "收货地址",
            },
            personal=("收货人", "联系电话", "收货地址"),
            destination="address",
        ),
        # Local platforms and the stations' own sales book: our template. ``county``
        # is the selling shop's county (a station's sales book carries it).
        Template(
            "standard",
            ("local", "station", "taobao", "jd", "pinduoduo", "douyin", "wechat"),
            {
                "order_id": "order_id",
                "ordered_at": "ordered_at",
                "status": "status",
                "county": "county",
                "sku": "sku",
                "gtin": "gtin",
                "title": "title",
                "quantity": "quantity",
                "amount": "amount",
                "city": "dest_city",
            },
            personal=("buyer_name", "buyer_phone", "buyer_address"),
            destination="city",
        ),
    )
}
