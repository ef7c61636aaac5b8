"""The printable 承诺达标合格证: an HTML page, Chinese first, laid out as the national
template (编号, the three promises, 承诺依据 with the basis ticked, 产品名称, 数量（重量）,
产地, 生产者, 联系方式, 开具日期), English beneath, and the lot's QR code (its GS1 Digital Link, made here with segno:
the labels of cloud/resolver/labels are a floor above and may not be imported).
Pure: it renders what it is given."""

from __future__ import annotations

from decimal import Decimal
from html import escape

import segno

from cloud.trace.certificates.kinds import BASIS_NAMES, beijing_date
from cloud.trace.certificates.storage import TraceCommitmentCertificate

#: UN/ECE Recommendation 20 codes shown in Chinese
UNIT_NAMES: dict[str, str] = {"KGM": "千克", "TNE": "吨", "GRM": "克", "H87": "件",
                              "CT": "箱", "LTR": "升"}  # fmt: skip

PROMISES = (
    ("不使用禁用农药兽药、停用兽药和非法添加物", "no banned pesticides or veterinary drugs, "
     "no withdrawn veterinary drugs, no illegal additives"),
    ("常规农药兽药残留不超标", "residues of permitted pesticides and veterinary drugs within "
     "the limits"),
    ("对承诺的真实性负责", "responsible for the truth of this promise"),
)  # fmt: skip


def quantity_text(quantity: Decimal, unit: str) -> str:
    q = quantity.normalize()
    shown = f"{q:f}"
    return f"{shown} {UNIT_NAMES.get(unit, unit)}"


def lot_qr_svg(uri: str) -> str:
    """An inline SVG QR code of ``uri`` (error correction M at least, 4-module quiet
    zone), as the labels make them."""
    qr = segno.make(uri, error="m", micro=False, boost_error=True)
    return str(qr.svg_inline(scale=3, border=4, title=uri))


def render_commitment_html(
    cert: TraceCommitmentCertificate, org_name: str, org_uscc: str, *, lot_uri: str | None = None
) -> str:
    """The certificate as a self-contained HTML page; with ``lot_uri`` (the lot's GS1
    Digital Link) its QR code, for a phone to open the lot's trace page."""
    e = escape
    qr = (
        f'<figure class="qr">{lot_qr_svg(lot_uri)}<figcaption>扫码追溯 scan to trace<br>'
        f"<small>{e(lot_uri)}</small></figcaption></figure>"
        if lot_uri
        else ""
    )
    day = beijing_date(cert.issued_at)
    bases = "".join(
        f'<span class="box">{"☑" if code == cert.basis else "☐"} {e(zh)}</span>'
        for code, (zh, _en) in BASIS_NAMES.items()
    )
    promises = "".join(f"<li>☑ {e(zh)}<br><small>{e(en)}</small></li>" for zh, en in PROMISES)
    ref = (
        f"<tr><th>依据编号<br><small>basis reference</small></th><td>{e(cert.basis_ref)}</td></tr>"
        if cert.basis_ref
        else ""
    )
    rows = (
        ("产品名称", "product", e(cert.product_name)),
        ("数量（重量）", "quantity (weight)", e(quantity_text(cert.quantity, cert.unit))),
        ("产地", "origin", e(cert.origin)),
        ("生产者（承诺主体）", "producer (promising entity)",
         f"{e(org_name)}<br><small>统一社会信用代码 {e(org_uscc)}</small>"),
        ("联系方式", "contact", e(cert.contact)),
        ("开具日期", "issued", f"{day.year}年{day.month}月{day.day}日"),
        ("批次", "lot", f"GTIN {e(cert.gtin)} · 批号 {e(cert.lot)}"),
    )  # fmt: skip
    table = "".join(
        f"<tr><th>{zh}<br><small>{en}</small></th><td>{value}</td></tr>" for zh, en, value in rows
    )
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>承诺达标合格证 {e(cert.number)}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif;
       max-width: 40em; margin: 1em auto; padding: 1em; border: 2px solid #222; }}
h1 {{ text-align: center; letter-spacing: .2em; margin: .2em 0; }}
.sub {{ text-align: center; color: #555; }}
table {{ width: 100%; border-collapse: collapse; margin-top: 1em; }}
th, td {{ border: 1px solid #444; padding: .4em; text-align: left; vertical-align: top; }}
th {{ width: 10em; background: #f4f4f4; }}
ul {{ list-style: none; padding-left: 0; }}
.box {{ margin-right: 1.2em; white-space: nowrap; }}
small {{ color: #666; }}
.qr {{ float: right; margin: 0 0 .5em 1em; text-align: center; }}
.qr small {{ word-break: break-all; font-size: .6em; }}
@media print {{ body {{ border: 2px solid #000; }} }}
</style>
</head>
<body>
<h1>承诺达标合格证</h1>
<p class="sub">Commitment certificate of compliance · 编号 No. {e(cert.number)}</p>
{qr}
<p>我承诺对生产销售的食用农产品：<br><small>I promise of the edible agricultural products
I produce and sell:</small></p>
<ul>{promises}</ul>
<p>承诺依据 <small>basis</small>：{bases}</p>
<table>{ref}{table}</table>
<p><small>记录保存至 kept on record until {cert.retain_until.isoformat()}</small></p>
</body>
</html>
"""
