"""The event loop our HTTP servers run on: asyncio's, not uvloop.

uvicorn picks uvloop by itself when it is installed ("auto"), and libuv accepts one
connection per loop turn ("unix: don't accept() connections in a loop", libuv 1.45).
Under load a turn serves every busy connection (10-30 ms), so a burst of new connections
(a proxy opening more upstream connections, a crowd of phones back in coverage) waited a
turn each: 100 new connections beside 100 busy ones waited up to 0.7 s for their first
answer (p50 343 ms), against 63 ms (p50 41 ms) on asyncio's loop, which accepts every
pending connection in one turn. Its cost is within the noise: the public API a few %
of its flat-out throughput, the OsmAnd port 1,070-1,171 fixes/s against 1,129-1,152
(``dehong bench services``, ``dehong bench logistics --short``; docs/benchmarks.md).
"""

from __future__ import annotations

#: uvicorn's ``loop`` option for ``cloud serve`` and ``logistics osmand-serve``
SERVER_LOOP = "asyncio"
