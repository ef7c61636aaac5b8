"""Finding the real servers the integration tests need.

With ``CI=true`` a missing service is a failure, never a skip: CI must prove the
real path. On a developer machine it is a skip with the reason.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(what: str) -> None:
    """Fail under CI, skip elsewhere, naming what is missing and how to get it."""
    if in_ci():
        pytest.fail(f"{what} (CI=true: a missing service is a failure; .ci/run starts it)")
    pytest.skip(what)


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def terminate(proc: subprocess.Popen[bytes], timeout_s: float = 5.0) -> None:
    """SIGTERM a server we started, SIGKILL it if it does not exit in ``timeout_s``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def serve_env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``dehong cloud serve`` (or worker) process of a test: its own
    database ``url``, an SQLite time series under ``tmp_path``, a fresh JWT secret, the
    OsmAnd port not served from the API; ``extra`` overrides."""
    return {**os.environ, "DEHONG_DATABASE_URL": url, "DEHONG_TSDB_PATH": str(tmp_path / "ts.db"),
            "DEHONG_INFLUX_URL": "", "DEHONG_JWT_SECRET": "k" + os.urandom(24).hex(),
            "DEHONG_POSITIONS_OSMAND_WITH_API": "false", **extra}  # fmt: skip
