"""A process that feeds the durable buffer as fast as it can until it is killed.

``python -m tests.edge.buffer_child DB RUN`` hands over samples whose ``n``
counts up from 0 on device ``gw-1.run-RUN``, cuts a batch every 200 samples,
and prints ``taken RUN N`` after each group commit: every sample up to N is
fsynced. The kill -9 test kills it at a random moment and checks the file.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from edge.buffer import Buffer
from edge.config import BufferConfig
from edge.drivers.base import Sample
from edge.state import StateStore


async def main(db: Path, run: int) -> None:
    buf = Buffer(db, "gw-1", StateStore(db.parent), BufferConfig(commit_interval_ms=20))
    await buf.open()
    highest = -1

    def taken(samples: list[Sample]) -> None:
        nonlocal highest
        highest = max(highest, *(int(s.values["n"] or 0) for s in samples))
        sys.stdout.write(f"taken {run} {highest}\n")
        sys.stdout.flush()

    buf.on_taken = taken
    device = f"gw-1.run-{run}"
    t0 = int(time.time() * 1000)
    n = 0
    while True:
        for _ in range(50):
            buf.put_sample(Sample(device=device, ts_ms=t0 + n, values={"n": float(n)}))
            n += 1
            if n % 200 == 0:
                buf.cut()
        await asyncio.sleep(0.002)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
