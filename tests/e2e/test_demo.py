"""`dehong demo --duration 10` serves live data from all four counties and exits 0.

The duration counts from the moment everything has started (the banner); with
1 s batches the first readings are at the API a second or two later.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from dehong.demo import DEMO_ADMIN, DEMO_COUNTY_ADMIN
from dehong.stack import DEMO_SITES
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
            out, _ = proc.communicate(timeout=30)
            raise AssertionError(f"live data only from {seen}; demo output:\n{out[-6000:]}")
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
        try:
            out, _ = proc.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            raise AssertionError(f"demo did not exit after --duration 10:\n{out[-6000:]}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out[-3000:]
    assert "demo-admin" in out and "DEMO DEFAULT" in out
    assert "Traceback" not in out, out[-3000:]
