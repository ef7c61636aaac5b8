"""The map's tile source, from the settings: a preset name or a URL template.

``DEHONG_CONSOLE_TILES``:

| value | tiles | datum drawn in |
|---|---|---|
| ``stub`` (default) | ``/tiles/stub/{z}/{x}/{y}.png``, this server's generated tiles | none (WGS-84 drawn as is) |
| ``osm`` | OpenStreetMap's standard tiles | WGS-84 |
| ``tianditu`` | 天地图 vector tiles + Chinese labels, needs ``DEHONG_CONSOLE_TILES_KEY`` (a browser key, ``tk``) | CGCS2000 (≈ WGS-84) |
| ``amap`` | 高德 road map tiles (``DEHONG_CONSOLE_TILES_KEY`` is appended as ``key`` when set) | GCJ-02 |
| any URL template with ``{z}``, ``{x}``, ``{y}`` (and ``{s}``, ``{key}``) | as given | WGS-84 unless ``DEHONG_CONSOLE_TILES_GCJ02=true`` |

``DEHONG_CONSOLE_TILES_GCJ02`` overrides a preset's datum too. The page converts
positions to GCJ-02 when it draws on GCJ-02 tiles (``static/gcj02.js``); the data stays
WGS-84. The page's Content-Security-Policy admits the tile host for images only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cloud.settings import Settings

STUB_URL = "/tiles/stub/{z}/{x}/{y}.png"


@dataclass(frozen=True)
class TileSource:
    name: str
    url: str
    gcj02: bool
    subdomains: str = ""
    attribution: str = ""
    overlay_url: str = ""
    max_zoom: int = 18

    @property
    def origins(self) -> list[str]:
        """The foreign origins the tiles come from (for the page's CSP img-src)."""
        out = []
        for url in (self.url, self.overlay_url):
            parts = urlsplit(url.replace("{s}", "*"))
            if parts.scheme in ("http", "https") and parts.netloc:
                out.append(f"{parts.scheme}://{parts.netloc}")
        return sorted(set(out))

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "overlay_url": self.overlay_url or None,
            "gcj02": self.gcj02,
            "subdomains": self.subdomains,
            "attribution": self.attribution,
            "max_zoom": self.max_zoom,
        }


def _tianditu(layer: str, key: str) -> str:
    return (
        f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
        f"&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
        f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
    )


def tile_source(settings: Settings) -> TileSource:
    """The tile source the settings name (ValueError naming the setting if unusable)."""
    value = settings.console_tiles.strip()
    key = settings.console_tiles_key
    forced = settings.console_tiles_gcj02
    if value == "stub":
        src = TileSource("stub", STUB_URL, False, attribution="本地瓦片桩 local tile stub")
    elif value == "osm":
        src = TileSource(
            "osm",
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            False,
            attribution="© OpenStreetMap contributors",
            max_zoom=19,
        )
    elif value == "tianditu":
        if not key:
            raise ValueError("console_tiles_key: 天地图 tianditu needs a browser key (tk)")
        src = TileSource(
            "tianditu",
            _tianditu("vec", key),
            False,
            subdomains="01234567",
            attribution="© 天地图 Tianditu",
            overlay_url=_tianditu("cva", key),
        )
    elif value == "amap":
        url = (
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1"
            "&style=8&x={x}&y={y}&z={z}"
        )
        if key:
            url += f"&key={key}"
        src = TileSource("amap", url, True, subdomains="1234", attribution="© 高德地图 AMap")
    else:
        if not all(p in value for p in ("{z}", "{x}", "{y}")):
            raise ValueError(
                f"console_tiles: {value!r} is neither a preset (stub, osm, tianditu, amap) "
                "nor a URL template with {z}, {x} and {y}"
            )
        url = value.replace("{key}", key)
        src = TileSource(
            "custom",
            url,
            False,
            subdomains="abc" if "{s}" in url else "",
            attribution=settings.console_tiles_attribution,
        )
    if forced is not None:
        src = TileSource(
            src.name,
            src.url,
            forced,
            src.subdomains,
            src.attribution,
            src.overlay_url,
            src.max_zoom,
        )
    return src
