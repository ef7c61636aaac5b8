"""A new user sees a clean start: ``dehong demo`` logs no warning, also when it is
started again on its kept state (the gateways' persistent sessions come back).

The cause of the old "unexpected message on .../birth (not subscribed here)"
warnings is tested fast in test_embedded_broker.py; this runs the demo itself.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import free_port

NOISE = re.compile(
    r"\b(WARNING|ERROR|CRITICAL)\b|Traceback|unexpected message"
    r"|INFO +alembic"  # the libraries' chatter (alembic logged its plugins on import)
)


def _run_demo(state: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "dehong.cli", "demo", "--duration", "4", "--port",
         str(free_port()), "--state-dir", str(state), "--keep", "--batch-s", "1", "--osmand-port", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


@pytest.mark.slow
def test_demo_starts_clean_twice(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    for run in ("first start", "restart on kept state"):
        log = _run_demo(state)
        noisy = [line for line in log.splitlines() if NOISE.search(line)]
        assert not noisy, f"{run}: " + "\n".join(noisy[:20])
        assert "MQTT connected" in log, log[-3000:]
