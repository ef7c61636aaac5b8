"""`dehong demo --duration 10` serves live data from all four counties and exits 0.

The duration counts from the moment everything has started (the banner); with
1 s batches the first readings are at the API a second or two later.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from dehong.demo import DEMO_ADMIN, DEMO_COUNTY_ADMIN
from dehong.stack import DEMO_SITES, MCU_NODES
from tests.support.services import free_port


def test_demo_runs_serves_data_and_exits_cleanly(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dehong.cli", "demo", "--duration", "10", "--port", str(port),
         "--state-dir", str(tmp_path / "demo"), "--batch-s", "1", "--osmand-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    api = f"http://127.0.0.1:{port}"
    seen: dict[str, float] = {}
    printed: list[str] = []  # the demo's output, read as it comes (the banner's key)
    reader = threading.Thread(target=lambda: printed.extend(iter(proc.stdout.readline, "")))  # type: ignore[union-attr]
    reader.start()

    def communicate(timeout: float | None = None) -> tuple[str, None]:
        proc.wait(timeout)
        reader.join(10)
        return "".join(printed), None

    try:
        deadline = time.monotonic() + 60
        token = None
        while proc.poll() is None and time.monotonic() < deadline and len(seen) < len(DEMO_SITES):
            time.sleep(0.25)
            try:
                if token is None:
                    r = httpx.post(
                        f"{api}/api/v1/auth/token",
                        data={"username": DEMO_ADMIN[0], "password": DEMO_ADMIN[1]},
                    )
                    if r.status_code != 200:
                        continue
                    token = r.json()["access_token"]
                for site in DEMO_SITES:
                    r = httpx.get(
                        f"{api}/api/v1/devices/{site.gateway_id}.room-0/latest",
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    if r.status_code == 200:
                        temps = [v for v in r.json()["values"] if v["metric"] == "temperature"]
                        if temps:
                            seen[site.county] = temps[0]["value"]
            except httpx.TransportError:
                continue
        if set(seen) != {s.county for s in DEMO_SITES}:
            proc.terminate()
            out, _ = communicate(timeout=30)
            raise AssertionError(f"live data only from {seen}; demo output:\n{out[-6000:]}")
        # each county's two MCU nodes (door contact, compressor clamp) on its simulated RS-485
        mcu: set[str] = set()
        want = {f"{s.gateway_id}.{local}" for s in DEMO_SITES for local, _, _ in MCU_NODES}
        while proc.poll() is None and time.monotonic() < deadline and mcu != want:
            for device in sorted(want - mcu):
                r = httpx.get(
                    f"{api}/api/v1/devices/{device}/latest",
                    headers={"Authorization": f"Bearer {token}"},
                )
                metrics = (
                    {v["metric"] for v in r.json()["values"]} if r.status_code == 200 else set()
                )
                if metrics & {"door_open", "compressor_current"}:
                    mcu.add(device)
            time.sleep(0.25)
        assert mcu == want, f"MCU nodes seen: {sorted(mcu)}"
        # a county admin of Mangshi sees Mangshi, and not Longchuan
        r = httpx.post(
            f"{api}/api/v1/auth/token",
            data={"username": DEMO_COUNTY_ADMIN[0], "password": DEMO_COUNTY_ADMIN[1]},
        )
        county_token = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert (
            httpx.get(
                f"{api}/api/v1/devices/mangshi-coop-01.room-0/latest", headers=county_token
            ).status_code
            == 200
        )
        assert (
            httpx.get(
                f"{api}/api/v1/devices/longchuan-coop-01.room-0/latest", headers=county_token
            ).status_code
            == 404
        )
        # the wall screen (issue 14): the banner's display key reads every panel, alive
        key = None
        while key is None and proc.poll() is None and time.monotonic() < deadline + 30:
            key = re.search(r"/screen#key=(\S+)", "".join(printed))
            time.sleep(0.2)
        assert key, "".join(printed)[-3000:]
        r = httpx.get(f"{api}/api/v1/screen/data", headers={"X-API-Key": key.group(1)})
        assert r.status_code == 200, r.text
        panels = {p["id"]: p for p in r.json()["panels"]}
        assert all(p["status"] == "ok" for p in panels.values()), panels
        assert panels["rooms_reporting"]["value"] >= len(DEMO_SITES)
        assert float(panels["sales_month"]["value"]) > 0  # sim commerce's orders
        assert httpx.get(f"{api}/screen").status_code == 200
        # public service and supervision (issue 15): stations on the map, a training
        # session, a published monthly report on the disclosure page
        assert "/h5/" in "".join(printed) and "/disclosure" in "".join(printed)
        stations = httpx.get(f"{api}/api/v1/public/stations").json()["stations"]
        assert len(stations) >= 10 and {st["county"] for st in stations} >= {"533103"}
        sessions = httpx.get(f"{api}/api/v1/public/training/sessions").json()
        assert sessions, sessions
        disclosure = httpx.get(f"{api}/api/v1/public/disclosure").json()
        assert disclosure["report"] and disclosure["plan"], disclosure
        assert httpx.get(f"{api}/disclosure").status_code == 200
        try:
            out, _ = communicate(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = communicate()
            raise AssertionError(f"demo did not exit after --duration 10:\n{out[-6000:]}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            communicate()
    assert proc.returncode == 0, out[-3000:]
    assert "demo-admin" in out and "DEMO DEFAULT" in out
    assert "Traceback" not in out, out[-3000:]
