"""The printable waybill (运单): one A4 page, written with :mod:`cloud.web.pdf` (the same
writer and QR code as the label sheets). The QR opens the waybill in the driver's page
(``{public_base_url}/m/driver#waybill={number}``): a login is needed to see it, so the
paper carries no personal data beyond what is printed (no receiver phone, no
driver ID number)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cloud.web.pdf import A4, Page, document, link, num, qr_ops
from cloud.web.pdf import text_mixed as text_cjk

BEIJING = timezone(timedelta(hours=8))
MARGIN = 42.0


@dataclass(frozen=True)
class WaybillSheet:
    number: str
    status_zh: str
    shipper: str
    carrier: str
    plate: str
    origin: str
    destination: str
    temp_class: str
    weight_kg: float
    volume_m3: float | None
    lots: list[tuple[str, str, str]]  # (gtin, lot, quantity text)
    created_at: datetime
    day: str
    uri: str


TEMP_ZH = {"frozen": "冷冻 frozen", "chilled": "冷藏 chilled", "cool": "恒温 cool",
           "ambient": "常温 ambient"}  # fmt: skip


def waybill_pdf(w: WaybillSheet) -> bytes:
    width, height = A4
    out: list[str] = []
    y = height - MARGIN
    out.append(text_cjk("德宏州农村电商冷链物流 · 运单 Waybill", MARGIN, y - 18, 18))
    out.append(text_cjk(w.number, MARGIN, y - 42, 14))
    side = 120.0
    qx, qy = width - MARGIN - side, y - side
    ops, _ = qr_ops(w.uri, qx, qy, side)
    out.append(ops)
    y -= 80
    rows = [
        ("状态 Status", w.status_zh),
        ("发货方 Shipper", w.shipper),
        ("承运方 Carrier", w.carrier),
        ("车牌 Vehicle", w.plate),
        ("日期 Day", w.day),
        ("起运地 From", w.origin),
        ("目的地 To", w.destination),
        ("温区 Temperature", TEMP_ZH.get(w.temp_class, w.temp_class)),
        (
            "重量 Weight",
            f"{w.weight_kg:g} kg" + ("" if w.volume_m3 is None else f" / {w.volume_m3:g} m3"),
        ),
        ("开单 Created", w.created_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M (UTC+8)")),
    ]
    for label, value in rows:
        y -= 22
        out.append(text_cjk(label, MARGIN, y, 10))
        out.append(text_cjk(value, MARGIN + 120, y, 11))
    y -= 34
    out.append(text_cjk("在途批次 Lots on board", MARGIN, y, 12))
    y -= 6
    out.append(f"0.5 w {num(MARGIN)} {num(y)} m {num(width - MARGIN)} {num(y)} l S\n")
    for gtin, lot, qty in w.lots[:24]:
        y -= 18
        out.append(text_cjk(f"(01) {gtin}  (10) {lot}", MARGIN, y, 10))
        out.append(text_cjk(qty, width - MARGIN - 120, y, 10))
    if len(w.lots) > 24:
        y -= 18
        out.append(text_cjk(f"… 另 {len(w.lots) - 24} 批 / {len(w.lots) - 24} more", MARGIN, y, 10))
    y = MARGIN + 90
    for k, label in enumerate(("装车 Loaded by", "承运 Driver", "签收 Received by")):
        x = MARGIN + k * (width - 2 * MARGIN) / 3
        out.append(f"0.5 w {num(x)} {num(y)} m {num(x + 150)} {num(y)} l S\n")
        out.append(text_cjk(label, x, y - 14, 9))
    out.append(text_cjk("扫码查看运单（需登录）Scan to open the waybill (login needed)",
                        MARGIN, MARGIN, 8))  # fmt: skip
    page = Page("".join(out), [link(w.uri, qx, qy, side, side)])
    return document([page], cjk=True, title=f"运单 {w.number}")
