"""kill -9 at any moment loses nothing that was taken: a real process, a real SIGKILL."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from edge.store import Store
from protocol.codec import decode
from protocol.messages import DataBatch

ROOT = Path(__file__).resolve().parents[2]


def run_and_kill(db: Path, run: int, rng: random.Random) -> int:
    """Start the child, SIGKILL it at a random moment; return the highest N it reported taken."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.edge.buffer_child", str(db), str(run)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    highest = -1
    kill_after = rng.uniform(0.3, 1.2)
    started = None
    try:
        for line in proc.stdout:
            highest = int(line.split()[2])
            started = started or time.monotonic()
            if time.monotonic() - started >= kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    return highest


def stored_counters(db: Path) -> dict[str, set[int]]:
    store = Store(db)
    out: dict[str, set[int]] = {}
    try:
        for row in store.samples(False):
            device, _kind, _site, _flags, values, _mf = orjson.loads(row.body)
            out.setdefault(device, set()).add(int(values["n"]))
        for item in store.batches():
            payload = store.payloads([item.id])[item.id]
            for series in decode(DataBatch, payload).series:
                out.setdefault(series.device, set()).update(
                    int(v) for v in series.values["n"] if v is not None
                )
    finally:
        store.close()
    return out


async def test_kill_9_loses_nothing_that_was_taken(tmp_path: Path) -> None:
    rng = random.Random(3)
    db = tmp_path / "buffer.db"
    highest = {}
    for run in range(3):
        highest[run] = await asyncio.to_thread(run_and_kill, db, run, rng)
        assert highest[run] > 200, "the child took too little before the kill to prove much"
    stored = await asyncio.to_thread(stored_counters, db)
    for run, top in highest.items():
        have = stored.get(f"gw-1.run-{run}", set())
        lost = set(range(top + 1)) - have
        assert not lost, f"run {run}: {len(lost)} taken readings lost, e.g. {sorted(lost)[:5]}"
