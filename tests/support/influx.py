"""The real InfluxDB the integration tests use (Debian's influxdb 1.6.x).

``scripts/services.sh`` (called by ``.ci/run``) starts it on 127.0.0.1:8086;
``DEHONG_TEST_INFLUX_URL`` points elsewhere. Each test gets its own database.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.services import free_port, missing, port_open, terminate

ROOT = Path(__file__).resolve().parents[2]


def influx_url() -> str:
    url = os.environ.get("DEHONG_TEST_INFLUX_URL", "http://127.0.0.1:8086")
    parts = urlsplit(url)
    if not port_open(parts.hostname or "127.0.0.1", parts.port or 8086):
        missing(f"InfluxDB not reachable at {url}; run scripts/services.sh")
    return url


def unique_db() -> str:
    return "t_" + secrets.token_hex(6)


class PrivateInflux:
    """An influxd of our own on free ports, for tests that stop and restart it.

    The config is ``deploy/influxdb/influxdb.conf`` rendered the way
    ``scripts/services.sh`` renders it (``@STATE@``, ``@PORT@``, the RPC port next
    to the HTTP port). Never touch the shared server on 8086.
    """

    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = free_port()
        self.rpc_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> None:
        binary = shutil.which("influxd")
        if binary is None:
            missing("influxd not found; install Debian's influxdb (scripts/services.sh does)")
        assert binary is not None
        self.state.mkdir(parents=True, exist_ok=True)
        conf = (ROOT / "deploy" / "influxdb" / "influxdb.conf").read_text()
        conf = conf.replace("@STATE@", str(self.state)).replace("@PORT@", str(self.port))
        conf = conf.replace("127.0.0.1:8088", f"127.0.0.1:{self.rpc_port}")
        (self.state / "influxdb.conf").write_text(conf)
        log = (self.state / "influxd.log").open("ab")
        self.proc = subprocess.Popen(
            [binary, "-config", str(self.state / "influxdb.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"influxd exited with {self.proc.returncode}: {self.log()}")
            if port_open("127.0.0.1", self.port, timeout=0.2):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"influxd did not listen on {self.port} in {timeout_s} s")

    def log(self) -> str:
        path = self.state / "influxd.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, 15)
        self.proc = None
