"""cloud/devices/README.md documents every query parameter of the series API (not
only OpenAPI) and the health endpoint's fields, read from the app's own schema."""

from __future__ import annotations

import secrets
from pathlib import Path

from cloud.app import create_app
from cloud.devices.schemas import GatewayHealthOut
from cloud.settings import Settings

README = Path(__file__).resolve().parents[2] / "cloud" / "devices" / "README.md"


def bullet(text: str, heading: str) -> str:
    """The top-level bullet that starts with ``- **heading**``."""
    start = text.index(f"- **{heading}**")
    end = text.find("\n- ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_series_query_parameters_are_documented(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        jwt_secret=secrets.token_urlsafe(48),
        tsdb_path=tmp_path / "ts.db",
    )
    paths = create_app(settings).openapi()["paths"]
    doc = bullet(README.read_text(encoding="utf-8"), "Series")
    for path in ("/api/v1/devices/{device_id}/series", "/api/v1/series"):
        assert f"`GET {path.replace('{device_id}', '{id}')}`" in doc
        names = [p["name"] for p in paths[path]["get"]["parameters"] if p["in"] == "query"]
        assert names, path
        assert [n for n in names if f"`{n}`" not in doc] == [], path


def test_health_endpoint_fields_are_documented() -> None:
    doc = bullet(README.read_text(encoding="utf-8"), "Health")
    assert "`GET /api/v1/gateways/{id}/health`" in doc
    fields = [f for f in GatewayHealthOut.model_fields if f != "gateway"]
    assert [f for f in fields if f"`{f}`" not in doc] == []
