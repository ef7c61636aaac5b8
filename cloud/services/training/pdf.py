"""A training certificate (结业证书) as a one-page PDF with a QR that opens its public
verification page (cloud/web/pdf.py: STSong-Light for the Chinese, not embedded)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cloud.web.pdf import A4, Page, document, link, num, qr_ops, text_cjk, text_mixed

BEIJING = timezone(timedelta(hours=8))
MARGIN = 56.0


@dataclass(frozen=True, slots=True)
class Sheet:
    ref: str
    holder: str
    course_zh: str
    course_en: str
    course_type: str
    hours: int
    county_zh: str
    place: str
    starts_at: datetime
    ends_at: datetime
    issued_at: datetime
    verify_url: str
    revoked: bool


def _day(t: datetime) -> str:
    return t.astimezone(BEIJING).strftime("%Y-%m-%d")


def certificate_pdf(c: Sheet) -> bytes:
    width, height = A4
    out: list[str] = []
    # a double frame
    out.append(f"1.5 w {num(28)} {num(28)} {num(width - 56)} {num(height - 56)} re S\n")
    out.append(f"0.5 w {num(34)} {num(34)} {num(width - 68)} {num(height - 68)} re S\n")
    y = height - 120
    out.append(text_cjk("结 业 证 书", width / 2 - 90, y, 36))
    out.append(text_mixed("Certificate of Completion", width / 2 - 112, y - 30, 15))
    y -= 100
    out.append(text_mixed(f"{c.holder}", MARGIN + 20, y, 22))
    y -= 34
    lines = [
        f"于 {_day(c.starts_at)} 至 {_day(c.ends_at)} 在{c.county_zh}参加",
        "德宏州电子商务进农村综合示范项目 · 电商学院培训课程",
        f"《{c.course_zh}》（{c.hours} 学时），经考勤合格，准予结业。",
    ]
    for line in lines:
        out.append(text_mixed(line, MARGIN + 20, y, 13))
        y -= 24
    y -= 8
    english = (
        f'completed the course "{c.course_en or c.course_zh}" ({c.hours} class hours), '
        f"held {_day(c.starts_at)} to {_day(c.ends_at)}"
    )
    for line in textwrap.wrap(english, 70)[:3]:
        out.append(text_mixed(line, MARGIN + 20, y, 10))
        y -= 16
    y -= 20
    out.append(text_mixed(f"地点 Place: {c.place}"[:60], MARGIN + 20, y, 11))
    y -= 20
    out.append(text_mixed(f"证书编号 No.: {c.ref}", MARGIN + 20, y, 11))
    y -= 20
    out.append(text_mixed(f"发证日期 Issued: {_day(c.issued_at)}", MARGIN + 20, y, 11))
    if c.revoked:
        y -= 30
        out.append("0.7 0.1 0.1 rg\n")
        out.append(text_mixed("已撤销 REVOKED", MARGIN + 20, y, 20))
        out.append("0 g\n")
    side = 130.0
    qx, qy = width - MARGIN - side - 10, 80.0
    ops, _ = qr_ops(c.verify_url, qx, qy, side)
    out.append(ops)
    out.append(text_mixed("扫码验证真伪 Scan to verify", qx - 8, qy - 14, 9))
    out.append(text_mixed("德宏州电商公共服务中心 · 电商学院", MARGIN + 20, 120, 12))
    out.append(text_mixed("Dehong e-commerce academy", MARGIN + 20, 102, 10))
    page = Page("".join(out), [link(c.verify_url, qx, qy, side, side)])
    return document([page], cjk=True, title=f"结业证书 {c.ref}")
