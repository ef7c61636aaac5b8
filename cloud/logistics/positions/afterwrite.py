"""What a group of fixes runs on PostgreSQL after its time-series write, in one round
trip: the check of the windows it held (:func:`.dirty.still_marked`) and its series'
lazy write-generation bump (:data:`cloud.timeseries.rollup.LAZY_BUMP`) as one
statement (the bump a ``WITH`` of the check), on a connection of its own in
autocommit.

Through the engine each was a pool checkout with its ping, SQLAlchemy's statement
machinery in a greenlet and a round trip of its own: ~1.15 ms of CPU and ~1.9 ms of
wall time per group, against ~0.2 ms and ~0.45 ms here (measured on the shared
machine). What each part means is unchanged (:mod:`.marks`, :class:`Marker`): the
check is a read that starts after the write; the bump is visible to every reader
before the statement returns, its commit not waited on to disk.

A kept connection that broke (a PostgreSQL restart) is replaced and the statement
sent once more: the check is a read, and a bump again is a bump (each at least the
time in microseconds).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import psycopg

from cloud.db import Database, note_write
from cloud.logistics.positions import dirty
from cloud.timeseries.rollup import LAZY_BUMP, lazy_bump_params

#: (vehicle, county, window start ms)
WindowKey = tuple[str, str, int]

#: the bump, as a ``WITH`` of the check (executed once, whether read or not)
_CHECK_AND_BUMP = f"WITH bump AS ({LAZY_BUMP} RETURNING 1)\n{dirty.STILL_MARKED_PG}"


class AfterWrite:
    def __init__(self, db: Database) -> None:
        args, kwargs = db.engine.dialect.create_connect_args(db.engine.url)
        self._args, self._kwargs = args, kwargs
        self._idle: list[psycopg.AsyncConnection[tuple[object, ...]]] = []
        #: statements run (each one round trip)
        self.statements = 0

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        return await psycopg.AsyncConnection.connect(*self._args, autocommit=True, **self._kwargs)

    async def run(
        self,
        held: Collection[WindowKey],
        series: Iterable[tuple[str, str, str]] | None,
    ) -> set[WindowKey]:
        """Check the ``held`` windows and bump ``series`` (None: no bump): the held
        windows still marked and unclaimed for every consumer."""
        params: dict[str, object] = {}
        if held:
            params.update(dirty.still_marked_params(held))
        if series is not None:
            params.update(lazy_bump_params(series))
        if held and series is not None:
            sql = _CHECK_AND_BUMP
        elif held:
            sql = dirty.STILL_MARKED_PG
        elif series is not None:
            sql = LAZY_BUMP
        else:
            return set()
        rows = await self._execute(sql, params)
        if series is not None:
            note_write()
        return {(str(d), str(c), int(w)) for d, c, w in rows}  # type: ignore[call-overload]

    async def _execute(self, sql: str, params: dict[str, object]) -> list[tuple[object, ...]]:
        self.statements += 1
        conn = self._idle.pop() if self._idle else None
        if conn is not None and conn.closed:
            conn = None
        kept = conn is not None
        if conn is None:
            conn = await self._connect()
        try:
            rows = await self._rows(conn, sql, params)
        except psycopg.OperationalError:
            await conn.close()
            if not kept:
                raise
            conn = await self._connect()  # the kept one broke: once more on a new one
            try:
                rows = await self._rows(conn, sql, params)
            except BaseException:
                await conn.close()
                raise
        except BaseException:
            await conn.close()
            raise
        self._idle.append(conn)
        return rows

    @staticmethod
    async def _rows(
        conn: psycopg.AsyncConnection[tuple[object, ...]], sql: str, params: dict[str, object]
    ) -> list[tuple[object, ...]]:
        cur = await conn.execute(sql, params)  # type: ignore[arg-type]
        return await cur.fetchall() if cur.description is not None else []

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
