"""A buffer process killed between the seq's fsync and the batch row's commit.

``python -m tests.edge.crash_child DB crash`` stores one batch (seq 0) of ten
samples, takes ten more, cuts again, and SIGKILLs itself right after the state
file has the next seq and before the batch row is written: a power cut at the
worst moment. ``... DB resume`` reopens the buffer, takes ten more samples and
cuts; the test then reads the batches' seqs from the file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from edge.buffer import Buffer
from edge.config import BufferConfig
from edge.state import StateStore
from edge.store import Store, Work
from tests.edge.test_buffer import sample


async def take(buf: Buffer, first: int) -> None:
    for i in range(first, first + 10):
        buf.put_sample(sample(i))
    await buf.flush()


async def main(db: Path, mode: str) -> None:
    buf = Buffer(db, "gw-1", StateStore(db.parent), BufferConfig(commit_interval_ms=20))
    await buf.open()
    if mode == "resume":
        await take(buf, 20)
        buf.cut()
        await buf.flush()
        await buf.close()
        return
    await take(buf, 0)
    buf.cut()
    await buf.flush()
    await take(buf, 10)
    real = Store.commit

    def commit(self: Store, work: Work, *args: Any, **kw: Any) -> None:
        if work.batches:
            os.kill(os.getpid(), signal.SIGKILL)
        real(self, work, *args, **kw)

    Store.commit = commit  # type: ignore[method-assign]
    buf.cut()
    await buf.flush()
    raise SystemExit("not killed: the batch row was never written")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
