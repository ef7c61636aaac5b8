"""Every QR we make decodes to its URI with OpenCV's detector: one code as SVG
(rendered here from its path) and PNG, the A4 label sheet's pages (rasterised by
pdftoppm when poppler-utils is installed, and always by a renderer of the sheet's own
fill operators), and the 合格证 print form's QR."""

from __future__ import annotations

import re
import shutil
import subprocess
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from cloud.auth.principal import Role
from cloud.resolver.labels.pdf import A4, MARGIN, Label, label_sheet
from cloud.resolver.labels.qr import make_qr, qr_png, qr_svg
from cloud.resolver.serials.keys import ensure_key
from tests.support.api import HOME, ApiEnv, api_env
from tests.support.epcis import gtin
from tests.support.trace_records import add_lot, add_org

G = gtin(614)
#: OpenCV's two QR detectors: the classic one misses some codes that decode fine
#: elsewhere (even segno's clean PNG of some URIs); the ArUco-based finder gets those
DETECTORS = (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco())


def decode(gray: np.ndarray) -> str:
    """The QR's text, as a phone's scanner gets it: OpenCV's detectors on the image, and
    if they find nothing, on the image at 2x, 1.5x and slightly blurred (the finders
    are sensitive to modules of uneven whole-pixel widths)."""
    for img in (
        gray,
        cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST),
        cv2.resize(gray, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_AREA),
        cv2.GaussianBlur(gray, (3, 3), 0),
    ):
        for detector in DETECTORS:
            text, _points, _ = detector.detectAndDecode(img)
            if text:
                return str(text)
    return ""


def render_svg(svg: str, px: int = 6) -> np.ndarray:
    """segno's SVG: one path of horizontal 1-module strokes (``M x y``, ``m dx dy``,
    ``h n``) at y + 0.5, scaled by ``transform="scale(s)"``; drawn at ``px`` per module."""
    scale = float(m.group(1)) if (m := re.search(r"scale\(([\d.]+)\)", svg)) else 1.0
    width = float(re.search(r'width="([\d.]+)"', svg).group(1)) / scale  # type: ignore[union-attr]
    d = re.search(r' d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    size = round(width)
    img = np.full((size * px, size * px), 255, np.uint8)
    x = y = 0.0
    for op, args in re.findall(r"([MmHh])([^MmHh]+)", d):
        nums = [float(v) for v in args.strip().replace(",", " ").split()]
        if op == "M":
            x, y = nums
        elif op == "m":
            x, y = x + nums[0], y + nums[1]
        elif op == "h":
            row = int(y - 0.5)
            img[row * px : (row + 1) * px, round(x * px) : round((x + nums[0]) * px)] = 0
            x += nums[0]
        else:
            raise AssertionError(f"unexpected path operator {op}")
    return img


def test_svg_and_png_decode_to_the_uri() -> None:
    for uri in (
        f"https://trace.dehong.example/01/{G}/10/C-2026(1)/21/123456789012345678?c=ABCDEFGH23",
        f"https://trace.dehong.example/01/{G}/10/L%2F1",
    ):
        assert make_qr(uri).error in ("M", "Q", "H")  # M or better
        assert decode(render_svg(qr_svg(uri).decode())) == uri
        png = cv2.imdecode(np.frombuffer(qr_png(uri), np.uint8), cv2.IMREAD_GRAYSCALE)
        assert decode(png) == uri


def _streams(pdf: bytes) -> list[bytes]:
    return [
        zlib.decompress(m.group(1))
        for m in re.finditer(rb"/FlateDecode >>\nstream\n(.*?)\nendstream", pdf, re.S)
    ]


def render_page(content: bytes, dpi: int = 150) -> np.ndarray:
    """Fill the ``x y w h re`` rectangles of one page's content stream (the QR modules;
    stroked guides and text are left out), as a grey image of the A4 page."""
    k = dpi / 72
    w, h = round(A4[0] * k), round(A4[1] * k)
    img = np.full((h, w), 255, np.uint8)
    for block in re.findall(rb"0 g\n(.*?)\nf\n", content, re.S):
        for x, y, rw, rh in re.findall(rb"([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) re", block):
            x0, y0 = float(x) * k, h - (float(y) + float(rh)) * k
            img[round(y0) : round(y0 + float(rh) * k), round(x0) : round(x0 + float(rw) * k)] = 0
    return img


def cells(page: np.ndarray, columns: int, rows: int) -> list[np.ndarray]:
    """The label cells of a page image, left to right, top to bottom."""
    k = page.shape[1] / A4[0]
    cw, ch = (A4[0] - 2 * MARGIN) / columns * k, (A4[1] - 2 * MARGIN) / rows * k
    m = MARGIN * k
    return [
        page[
            round(m + r * ch) : round(m + (r + 1) * ch), round(m + c * cw) : round(m + (c + 1) * cw)
        ]
        for r in range(rows)
        for c in range(columns)
    ]


def check_sheet(pdf: bytes, uris: list[str], columns: int, rows: int, tmp: Path) -> None:
    """Every label's QR decodes to its URI, on every page, in order; the link
    annotations name the same URIs; the text has GTIN, lot and serial."""
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    links = [u.decode() for u in re.findall(rb"/URI \((.*?)\) >>", pdf)]
    assert links == [u.replace("(", "\\(").replace(")", "\\)") for u in uris]
    per_page = columns * rows
    pages = _streams(pdf)
    assert len(pages) == -(-len(uris) // per_page)
    images = [render_page(p) for p in pages]
    if shutil.which("pdftoppm"):  # poppler's own rendering, text and all
        (tmp / "sheet.pdf").write_bytes(pdf)
        subprocess.run(["pdftoppm", "-r", "150", "-gray", "-png", str(tmp / "sheet.pdf"),
                        str(tmp / "p")], check=True, timeout=60)  # fmt: skip
        rasters = sorted(tmp.glob("p-*.png"))
        assert len(rasters) == len(pages)
        images += [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in rasters]
    for i, uri in enumerate(uris):
        page, cell = divmod(i, per_page)
        for img in images[page :: len(pages)]:
            assert decode(cells(img, columns, rows)[cell]) == uri, (i, uri)
    for i, content in enumerate(pages):
        assert content.count(b"(\\(01\\) ") == min(per_page, len(uris) - i * per_page)


def test_label_sheet_pages_decode(tmp_path: Path) -> None:
    uris = [
        f"https://trace.dehong.example/01/{G}/10/LOT(7)/21/{n}?c=ABCDEFGH{n:02d}"
        for n in range(1, 9)
    ]
    labels = [Label(u, ("(01) " + G, "(10) LOT(7)", f"(21) {n}")) for n, u in enumerate(uris, 1)]
    check_sheet(label_sheet(labels, columns=2, rows=3), uris, 2, 3, tmp_path)
    with pytest.raises(ValueError):
        label_sheet(labels, columns=9)


# ------------------------------------------------------------------ through the API


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        e.settings.serials_key_file = tmp_path / "keys" / "serials.key"
        ensure_key(e.settings)
        yield e


async def test_api_labels_decode_to_their_digital_links(env: ApiEnv, tmp_path: Path) -> None:
    org = await add_org(env, HOME, 62)
    await add_lot(env, org, G, "QR-1")
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    base = env.settings.public_base_url
    r = await env.client.post(f"/api/v1/trace/lots/{G}/QR-1/serial-ranges", json={"count": 30},
                              headers=h)  # fmt: skip
    rid = r.json()["id"]
    rows = (await env.client.get(f"/api/v1/trace/serial-ranges/{rid}/uris", headers=h)).text
    uris = [line.split(",")[-1] for line in rows.splitlines()[1:]]
    # the lot's own QR, SVG and PNG
    lot_uri = f"{base}/01/{G}/10/QR-1"
    r = await env.client.get(f"/api/v1/trace/lots/{G}/QR-1/qr", headers=h)
    assert r.headers["content-type"] == "image/svg+xml" and r.headers["x-digital-link"] == lot_uri
    assert decode(render_svg(r.text)) == lot_uri
    r = await env.client.get(f"/api/v1/trace/lots/{G}/QR-1/qr", params={"format": "png"}, headers=h)
    assert decode(cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_GRAYSCALE)) == lot_uri
    # one serial's
    r = await env.client.get(f"/api/v1/trace/lots/{G}/QR-1/serials/7/qr", params={"format": "png"},
                             headers=h)  # fmt: skip
    assert decode(cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_GRAYSCALE)) == uris[6]
    r = await env.client.get(f"/api/v1/trace/lots/{G}/QR-1/serials/7/qr", headers=h)
    assert decode(render_svg(r.text)) == uris[6]
    for bad in ("31", "07", "x"):
        r = await env.client.get(f"/api/v1/trace/lots/{G}/QR-1/serials/{bad}/qr", headers=h)
        assert r.status_code == 404, bad
    r = await env.client.get(f"/api/v1/trace/lots/{G}/QR-1/qr", params={"format": "gif"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "query.format"
    # the sheet: serials 5-30 on 3 x 4 pages
    r = await env.client.get(f"/api/v1/trace/serial-ranges/{rid}/labels", headers=h,
                             params={"start": 5, "columns": 3, "rows": 4})  # fmt: skip
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    check_sheet(r.content, uris[4:], 3, 4, tmp_path)
    for params, field in [({"start": 31}, "query.start"), ({"start": 0}, "query.start"),
                          ({"start": 29, "count": 3}, "query.count"), ({"count": 1001}, "query.count"),
                          ({"columns": 9}, "query.columns"), ({"rows": 0}, "query.rows")]:  # fmt: skip
        r = await env.client.get(
            f"/api/v1/trace/serial-ranges/{rid}/labels", params=params, headers=h
        )
        assert r.status_code == 422 and r.json()["field"] == field, (params, r.text)


async def test_commitment_print_form_has_the_lots_qr(env: ApiEnv) -> None:
    org = await add_org(env, HOME, 63)
    await add_lot(env, org, G, "HG-1")
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(f"/api/v1/trace/lots/{G}/HG-1/commitment-certificates", headers=h,
                              json={"basis": "self_test", "origin": "芒市", "contact": "0692",
                                    "product_name": "咖啡"})  # fmt: skip
    assert r.status_code == 201, r.text
    r = await env.client.get(r.json()["print_url"], headers=h)
    assert r.status_code == 200 and "承诺达标合格证" in r.text
    svg = re.search(r"<svg.*?</svg>", r.text, re.S).group(0)  # type: ignore[union-attr]
    assert decode(render_svg(svg)) == f"{env.settings.public_base_url}/01/{G}/10/HG-1"
