"""``dehong logistics ...``: waybill show / move / arrived / pdf, and the rotation of the
personal-data master key (pii-rewrap), on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from cloud.logistics.fleet.storage import Driver
from cloud.pii import key_id_of
from cloud.settings import get_settings
from dehong.cli import build_parser
from tests.cloud.logistics_world import API, build, move, trip, waybill
from tests.support.api import HOME, PII_KEYS, ApiEnv, api_env


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


async def test_cli_moves_a_waybill_and_rotates_the_key(
    env: ApiEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    w = await build(env, HOME)
    t = await trip(env, w)
    wb = await waybill(env, w, receiver_phone="13700001111")
    assert (await move(env, w.admin, wb, "assigned", trip_id=t)).status_code == 201
    monkeypatch.setenv("DEHONG_DATABASE_URL", env.settings.database_url)
    monkeypatch.setenv("DEHONG_PII_KEYS", PII_KEYS)
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    get_settings.cache_clear()

    async def dehong(*args: str) -> tuple[int, str, str]:
        ns = build_parser().parse_args(["logistics", *args])
        code = await ns.handler(ns)
        out = capsys.readouterr()
        return code, out.out, out.err

    try:
        code, out, err = await dehong("waybill", "move", str(wb), "departed")
        assert code == 1 and "cannot become departed" in err, err
        code, out, err = await dehong("waybill", "move", str(wb), "loaded")
        assert code == 0 and "loaded" in out, err
        code, out, err = await dehong("waybill", "arrived", str(wb))
        assert code == 0 and "arrived" in out, err
        code, out, err = await dehong("waybill", "show", str(wb))
        assert code == 0 and '"status": "arrived"' in out and '"source": "cli"' in out
        code, out, err = await dehong("waybill", "pdf", str(wb), "-o", str(tmp_path / "w.pdf"))
        assert code == 0 and (tmp_path / "w.pdf").read_bytes().startswith(b"%PDF")
        code, out, err = await dehong("waybill", "show", "999999")
        assert code == 1 and "not found" in err

        # rotation: a new key first, the old one kept; rewrap; then the old key can go
        new = "t2:" + "A" * 43 + "="
        monkeypatch.setenv("DEHONG_PII_KEYS", f"{new},{PII_KEYS}")
        get_settings.cache_clear()
        code, out, err = await dehong("pii-rewrap")
        assert code == 0 and out.strip() == "drivers=1 waybills=1 pods=0", (out, err)
        code, out, err = await dehong("pii-rewrap")
        assert out.strip() == "drivers=0 waybills=0 pods=0", "nothing left on the old key"
        async with env.db.session() as s:
            d = await s.get_one(Driver, w.driver)
        assert key_id_of(d.name_sealed) == key_id_of(d.phone_sealed) == "t2"
        # the API with only the new key still reads the driver, and finds it by phone
        env.settings.pii_keys = SecretStr(new)
        r = await env.client.get(f"{API}/drivers", params={"phone": "13800138000"}, headers=w.admin)
        assert [x["name"] for x in r.json()] == ["岩温"], r.text
    finally:
        get_settings.cache_clear()
