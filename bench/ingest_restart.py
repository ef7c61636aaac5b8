"""``dehong bench ingest-restart``: the delay an ingest worker *process* restart adds.

A private Mosquitto (our config), 2 simulated gateways (they keep each batch
until its write-ack and resend after 30 s, the edge default), one ``dehong cloud
ingest`` process on a shared subscription (SQLite stores). Each round: SIGTERM the
worker, publish 3 batches per gateway while no worker is connected, start a new
process with the same client id, and time spawn -> every batch acknowledged.

- **persistent**: the shipped setting (MQTT 5 session, expiry 120 s): the broker
  queues what was published meanwhile and hands it to the new process.
- **baseline** (same run, same load): ``DEHONG_INGEST_SESSION_EXPIRY_S=0``, a clean
  session on each connect, as before: those batches are dropped by the broker and
  come back only with the gateways' resend.

Goal: the persistent restart acknowledges everything without a resend, within a
third of the gateways' 30 s resend timeout (the new process's start-up, its imports
and database connect, is most of the figure; on a loaded 2-core machine it takes
seconds).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.fleet import SimGateway, provision, wait_all_acked
from bench.servers import PrivateMosquitto, free_port
from cloud.db import Database
from cloud.db.migrate import upgrade_async

ACK_TIMEOUT_S = 30.0  # the edge's default resend timeout
GATEWAYS = 2
BATCHES_WHILE_DOWN = 3


async def _measure(root: Path, expiry_s: int, rounds: int) -> dict[str, Any]:
    broker = PrivateMosquitto(root / "broker")
    broker.start()
    url = f"sqlite:///{root / 'rel.db'}"
    await upgrade_async(url)
    db = Database(url)
    procs: list[asyncio.subprocess.Process] = []
    readers: list[asyncio.Task[None]] = []
    tasks: list[asyncio.Task[None]] = []
    log = None
    try:
        accounts, ingest = await provision(db, broker, GATEWAYS)
        assert ingest is not None
        env = {
            **os.environ,
            "DEHONG_DATABASE_URL": url,
            "DEHONG_INFLUX_URL": "",
            "DEHONG_TSDB_PATH": str(root / "ts.db"),
            "DEHONG_MQTT_URL": f"mqtt://{ingest.username}:{ingest.password}@"
            f"{broker.host}:{broker.port}",
            "DEHONG_MQTT_SHARED": "true",
            "DEHONG_INGEST_CLIENT_ID": "ingest-bench-restart",
            "DEHONG_INGEST_METRICS_PORT": str(free_port()),
            "DEHONG_INGEST_SESSION_EXPIRY_S": str(expiry_s),
            "DEHONG_ROLLUP_INTERVAL_S": "0",
        }
        log = (root / "worker.log").open("ab")

        async def spawn() -> tuple[asyncio.subprocess.Process, asyncio.Event]:
            """A worker process; the event is set once it logged its connect."""
            p = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "dehong.cli",
                "cloud",
                "ingest",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            up = asyncio.Event()

            async def follow() -> None:
                assert p.stdout is not None
                async for line in p.stdout:
                    log.write(line)
                    if b"ingest connected" in line:
                        up.set()

            readers.append(asyncio.create_task(follow()))
            procs.append(p)
            return p, up

        proc, up = await spawn()
        await asyncio.wait_for(up.wait(), 60)
        gws = [
            SimGateway(a, broker.host, broker.port, ack_timeout_s=ACK_TIMEOUT_S) for a in accounts
        ]
        tasks = [asyncio.create_task(g.run()) for g in gws]
        await asyncio.wait_for(asyncio.gather(*(g.connected.wait() for g in gws)), 20)
        t0 = int(time.time() * 1000) - 3_600_000
        k = 0
        for g in gws:
            await g.publish_batch(t0)
        k += 1
        if not await wait_all_acked(gws, 30):
            raise RuntimeError("the first batches were not acknowledged")
        delays = []
        for _ in range(rounds):
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 15)
            for _ in range(BATCHES_WHILE_DOWN):
                for g in gws:
                    await g.publish_batch(t0 + k * 60_000)
                k += 1
            started = time.monotonic()
            proc, up = await spawn()
            acked = await wait_all_acked(gws, 2 * ACK_TIMEOUT_S + 30)
            delays.append(round(time.monotonic() - started, 2) if acked else None)
            await asyncio.wait_for(up.wait(), 60)
        resent = sum(g.stats.resent for g in gws)
        return {"spawn_to_all_acked_s": delays, "resent": resent}
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for p in procs:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
                await asyncio.wait_for(p.wait(), 15)
        await asyncio.gather(*readers, return_exceptions=True)
        if log is not None:
            log.close()
        await db.dispose()
        broker.stop()


def run(*, short: bool = False) -> dict[str, Any]:
    rounds = 1 if short else 3
    with tempfile.TemporaryDirectory(prefix="dehong-restart-") as tmp:
        persistent = asyncio.run(_measure(Path(tmp) / "persistent", 120, rounds))
        baseline = asyncio.run(_measure(Path(tmp) / "baseline", 0, rounds))
    worst = max((d for d in persistent["spawn_to_all_acked_s"] if d is not None), default=None)
    return {
        "bench": "ingest-restart",
        "short": short,
        "gateways": GATEWAYS,
        "batches_published_while_down": GATEWAYS * BATCHES_WHILE_DOWN,
        "gateway_resend_timeout_s": ACK_TIMEOUT_S,
        "persistent_session": persistent,
        "baseline_clean_session": baseline,
        "goal": "every batch acknowledged without a resend, within 10 s of the new process",
        "goal_met": (
            None not in persistent["spawn_to_all_acked_s"]
            and persistent["resent"] == 0
            and worst is not None
            and worst < ACK_TIMEOUT_S / 3
        ),
    }


if __name__ == "__main__":
    import orjson

    sys.stdout.write(orjson.dumps(run(short="--short" in sys.argv)).decode() + "\n")
