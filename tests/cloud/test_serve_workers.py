"""``dehong cloud serve --workers N``: N API processes on one port (uvicorn's workers,
each made by ``cloud.cli:worker_app``); refused beside the OsmAnd port served from the
API's process, and for a count that is not 1-64."""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cloud.cli import _workers
from tests.support.schema import migrate_async
from tests.support.services import free_port, serve_env


def test_the_count_is_a_whole_number_from_1_to_64() -> None:
    assert _workers("2") == 2
    for bad, why in (("0", "outside 1-64"), ("65", "outside 1-64"), ("two", "not a whole")):
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            _workers(bad)


def test_workers_are_refused_beside_the_osmand_port(tmp_path: Path) -> None:
    env = serve_env(
        tmp_path, f"sqlite:///{tmp_path / 'rel.db'}", DEHONG_POSITIONS_OSMAND_WITH_API="true"
    )
    out = subprocess.run(
        [sys.executable, "-m", "dehong.cli", "cloud", "serve", "--workers", "2"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 2
    assert "--workers 2: DEHONG_POSITIONS_OSMAND_WITH_API" in out.stderr, out.stderr


async def test_two_workers_serve_one_port(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    await migrate_async(url)
    port = free_port()
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")
    proc = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "dehong.cli", "cloud", "serve", "--port", str(port),
         "--workers", "2"],
        env=serve_env(tmp_path, url), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(timeout=5) as c:
            deadline = time.monotonic() + 60
            while len(re.findall(r"Application startup complete", log_path.read_text())) < 2:
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                await asyncio.sleep(0.2)
            for _ in range(10):
                r = await c.get(f"http://127.0.0.1:{port}/healthz")
                assert r.status_code == 200 and r.json()["status"] == "ok"
    finally:
        proc.terminate()
        code = await asyncio.to_thread(proc.wait, 30)
    served = log_path.read_text()
    assert code in (0, -15), served
    assert len(set(re.findall(r"Started server process \[(\d+)\]", served))) == 2, served
