"""InfluxDB through the v1 HTTP API (``/write`` line protocol, ``/query`` InfluxQL).

Works against InfluxDB 1.x, 2.x (v1 compatibility with a DBRP mapping) and 3.x.
CI runs Debian's influxdb 1.6.7. Timestamps are ms precision throughout.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any
from urllib.parse import urlencode

import httpcore
import httpx
import orjson

from cloud.timeseries.base import (
    QUALITY_SUFFIX,
    Counties,
    LatestValue,
    Point,
    PointBlock,
    TimeSeriesError,
    TimeSeriesStore,
    fold_quality,
)
from cloud.timeseries.evidence import EvidenceData, EvidenceReads, merge_window_parts
from cloud.timeseries.httpwrite import LineWriter, WriteTransportError
from cloud.timeseries.lineprotocol import block_lines, lines, quote_ident, quote_string
from cloud.timeseries.rollup_sums import EVIDENCE_PARTS
from cloud.timeseries.windows import (
    RAW_RETENTION_DAYS,
    RETENTION_POLICY,
    ROLLUP_RETENTION_DAYS,
    Parts,
    PartsByDevice,
    Resolution,
    Span,
    offset_ms,
    values_parts,
)
from protocol.ids import check_metric

#: Raw retention. The wire contract accepts readings up to 90 days old, so the raw
#: retention policy keeps a margin beyond that: a backlog is never refused by InfluxDB.
RAW_RETENTION = f"{RAW_RETENTION_DAYS}d"
ROLLUP_RETENTION = f"{ROLLUP_RETENTION_DAYS}d"
#: Where raw points are written and read, always by name: never InfluxDB's *default*
#: policy, which is ``autogen`` between ``CREATE DATABASE`` and the creation of ``raw``
#: (a database dropped and being recreated by :meth:`InfluxStore.ensure_schema`). A
#: write landing there would be acknowledged yet invisible to every read.
RAW_RP = RETENTION_POLICY["raw"]


class InfluxStore(TimeSeriesStore):
    def __init__(
        self,
        url: str,
        *,
        database: str = "dehong",
        username: str = "",
        password: str = "",
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self._auth = (username, password) if username else None
        self._timeout = timeout_s
        self._client: httpx.AsyncClient | None = None
        self._reads: httpcore.AsyncConnectionPool | None = None
        self._writes: LineWriter | None = None
        self._read_timeouts = dict.fromkeys(("connect", "read", "write", "pool"), timeout_s)
        self._read_headers = [(b"Accept", b"application/json")]
        if username:
            basic = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._read_headers.append((b"Authorization", f"Basic {basic}".encode()))
        self._write_headers = [(k.decode(), v.decode()) for k, v in self._read_headers[1:]]

    async def open(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.url,
                auth=self._auth,
                timeout=self._timeout,
                limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
            )
            self._reads = httpcore.AsyncConnectionPool(
                max_connections=8, max_keepalive_connections=8, keepalive_expiry=5.0
            )
            self._writes = self._line_writer()
        await self.ensure_schema()

    def _line_writer(self) -> LineWriter:
        """Writes go on connections of their own (:mod:`.httpwrite`), not httpx's."""
        return LineWriter(
            self.url, headers=self._write_headers, timeout_s=self._timeout, max_connections=8
        )

    async def ensure_schema(self) -> None:
        """The database and its retention policies (idempotent; durations corrected):
        ``raw`` (default, 100 d), ``rollup_1m`` and ``rollup_1h`` (800 d)."""
        db = quote_ident(self.database)
        await self.query(f"CREATE DATABASE {db}", db=None)
        for rp, duration, default in (
            ("raw", RAW_RETENTION, True),
            ("rollup_1m", ROLLUP_RETENTION, False),
            ("rollup_1h", ROLLUP_RETENTION, False),
        ):
            extra = " DEFAULT" if default else ""
            await self.query(
                f"CREATE RETENTION POLICY {quote_ident(rp)} ON {db} "
                f"DURATION {duration} REPLICATION 1{extra}",
                db=None,
                tolerate="already exists",
            )
            await self.query(
                f"ALTER RETENTION POLICY {quote_ident(rp)} ON {db} DURATION {duration}{extra}",
                db=None,
            )

    async def retention_policies(self) -> dict[str, str]:
        """``{name: duration}`` of the database's retention policies."""
        series = await self.query(f"SHOW RETENTION POLICIES ON {quote_ident(self.database)}")
        out = {}
        for s in series:
            cols = s.get("columns", [])
            for row in s.get("values", []):
                rec = dict(zip(cols, row, strict=False))
                out[str(rec["name"])] = str(rec["duration"])
        return out

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
        if self._reads is not None:
            reads, self._reads = self._reads, None
            await reads.aclose()
        if self._writes is not None:
            writes, self._writes = self._writes, None
            await writes.close()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            raise TimeSeriesError("InfluxStore is not open; call open()", retryable=True)
        return self._client

    async def ping(self) -> bool:
        try:
            r = await self._http().get("/ping")
        except httpx.HTTPError:
            return False
        return r.status_code == 204

    async def write(self, points: Sequence[Point]) -> None:
        if not points:
            return
        await self.write_lines(lines(points))

    async def write_blocks(self, blocks: Sequence[PointBlock]) -> None:
        if any(blocks):
            await self.write_lines(block_lines(blocks))

    async def write_rollups(self, resolution: Resolution, points: Sequence[Point]) -> None:
        if points:
            await self.write_lines(lines(points), rp=RETENTION_POLICY[resolution])

    async def write_lines(self, body: str, *, rp: str = RAW_RP) -> None:
        """Write line protocol into the named retention policy (``raw`` by default). A
        policy that does not exist yet is a 500 from InfluxDB: retried, never stored
        elsewhere."""
        if self._writes is None:
            self._http()  # not open: raises
            self._writes = self._line_writer()
        target = "/write?" + urlencode({"db": self.database, "rp": rp, "precision": "ms"})
        try:
            status, answer = await self._writes.post(target, body.encode())
        except WriteTransportError as exc:
            raise TimeSeriesError(
                f"InfluxDB at {self.url} unreachable: {exc!r}", retryable=True
            ) from exc
        if status == 204:
            return
        detail = _error_body(answer)
        content = status == 400 and is_content_error(detail)
        raise TimeSeriesError(
            f"InfluxDB refused the write ({status}): {detail}{_advice(status, detail)}",
            retryable=not content,
            status=status,
        )

    async def query(
        self, q: str, *, db: str | None = "", tolerate: str | None = None
    ) -> list[dict[str, Any]]:
        """Run one InfluxQL statement; return its ``series``."""
        try:
            (series,) = await self._multi(q, db=db)
        except TimeSeriesError as exc:
            if tolerate and tolerate in str(exc):
                return []
            raise
        return series

    async def latest(
        self, measurement: str, device: str, *, counties: Counties = None
    ) -> list[LatestValue]:
        if counties is not None and not counties:
            return []
        # last(*) returns one row with one time for all fields; each field's newest
        # value has its own time, so ask for last() of each field (one request).
        source = _raw(measurement)
        keys = await self.query(f"SHOW FIELD KEYS FROM {source}")
        fields = [row[0] for s in keys for row in s.get("values", [])]
        if not fields:
            return []
        out: dict[str, tuple[int, float]] = {}
        where = f"WHERE device = {quote_string(device)}{_in_counties(counties)}"
        stmts = ";".join(f"SELECT last({quote_ident(f)}) FROM {source} {where}" for f in fields)
        data = await self._multi(stmts)
        for f, series in zip(fields, data, strict=True):
            for s in series:
                for ts, value in s.get("values", []):
                    if value is not None:
                        out[f] = (int(ts), float(value))
        return fold_quality(out)

    async def _read(self, params: dict[str, str]) -> tuple[int, bytes]:
        """A GET of ``/query`` on the connection pool itself: one write to the socket
        (a POST sends its body apart from its head), and none of httpx's per-request
        machinery, which costs more CPU than the rest of a small read."""
        if self._reads is None:
            raise TimeSeriesError("InfluxStore is not open; call open()", retryable=True)
        r = await self._reads.request(
            b"GET",
            f"{self.url}/query?{urlencode(params)}",
            headers=self._read_headers,
            extensions={"timeout": self._read_timeouts},
        )
        return r.status, r.content

    async def _multi(self, statements: str, *, db: str | None = "") -> list[list[dict[str, Any]]]:
        """Run ``;``-separated InfluxQL statements; return each one's ``series``."""
        params = {"q": statements, "epoch": "ms"}
        database = self.database if db == "" else db
        if database:
            params["db"] = database
        try:
            if len(statements) <= GET_QUERY_CHARS and _reads_only(statements):
                status, content = await self._read(params)
            else:
                r = await self._http().post("/query", data=params)
                status, content = r.status_code, r.content
        except (httpx.HTTPError, *TRANSPORT_ERRORS) as exc:
            raise TimeSeriesError(
                f"InfluxDB at {self.url} unreachable: {exc!r}", retryable=True
            ) from exc
        if status >= 400:
            raise TimeSeriesError(
                f"InfluxDB query failed ({status}): {_error_body(content)}",
                retryable=status >= 500,
                status=status,
            )
        out = []
        for res in orjson.loads(content).get("results", []):
            if "error" in res:
                raise TimeSeriesError(f"InfluxQL error: {res['error']}", retryable=False)
            out.append(list(res.get("series", [])))
        return out

    async def aggregate_parts(
        self,
        measurement: str,
        devices: Sequence[str] | None,
        metric: str,
        spans: Sequence[Span],
        every_ms: int,
        resolution: Resolution,
        *,
        mkt: bool = False,
        counties: Counties = None,
    ) -> PartsByDevice:
        got = await self.aggregate_plan(
            measurement, devices, metric, {resolution: spans}, every_ms, mkt=mkt, counties=counties
        )
        return got.get(resolution, {})

    async def aggregate_plan(
        self,
        measurement: str,
        devices: Sequence[str] | None,
        metric: str,
        plan: Mapping[Resolution, Sequence[Span]],
        every_ms: int,
        *,
        mkt: bool = False,
        counties: Counties = None,
    ) -> dict[Resolution, PartsByDevice]:
        """Every resolution's spans in one request: one statement per span (InfluxQL 1.x
        cannot OR time ranges); raw points and roll-ups alike only under ``counties``."""
        if devices is not None and not devices:
            return {}
        if not any(plan.values()) or (counties is not None and not counties):
            return {}
        check_metric(metric)  # also a safe field name; quoted besides
        f = metric
        qf = quote_ident(f)
        who = (
            "(" + " OR ".join(f"device = {quote_string(d)}" for d in devices) + ") AND "
            if devices is not None
            else ""
        )
        in_counties = _in_counties(counties)
        group = f"GROUP BY time({int(every_ms)}ms, {offset_ms(every_ms)}ms), device fill(none)"
        statements: list[str] = []
        kinds: list[tuple[Resolution, bool]] = []  # (resolution, raw values to fold)
        for resolution, spans in plan.items():
            rp = quote_ident(RETENTION_POLICY[resolution])
            source = f"{quote_ident(self.database)}.{rp}.{quote_ident(measurement)}"
            values = resolution == "raw" and mkt
            if values:
                # Σexp(−ΔH/RT) of raw points: the values are folded here (an InfluxQL
                # subquery with exp() does the same about ten times slower on 1.6)
                sel, tail = qf, "GROUP BY device"
            elif resolution == "raw":
                sel, tail = f"sum({qf}), min({qf}), max({qf}), count({qf})", group
            else:
                sel = (
                    f"sum({quote_ident(f + '_sum')}), min({quote_ident(f + '_min')}), "
                    f"max({quote_ident(f + '_max')}), sum({quote_ident(f + '_count')}), "
                    f"sum({quote_ident(f + '_mkt')})"
                )
                tail = group
            for a, b in spans:
                statements.append(
                    f"SELECT {sel} FROM {source} WHERE {who}"
                    f"time >= {int(a)}ms AND time < {int(b)}ms{in_counties} {tail}"
                )
                kinds.append((resolution, values))
        out: dict[Resolution, PartsByDevice] = {}
        raw_values: dict[str, list[list[Any]]] = {}
        for (resolution, values), series in zip(
            kinds, await self._multi(";".join(statements)), strict=True
        ):
            for s in series:
                device = s.get("tags", {}).get("device", "")
                if values:
                    raw_values.setdefault(device, []).extend(s.get("values", []))
                    continue
                windows = out.setdefault(resolution, {}).setdefault(device, {})
                for row in s.get("values", []):
                    total, lo, hi, count = row[1:5]
                    if not count:
                        continue
                    windows.setdefault(int(row[0]), Parts()).merge(
                        float(total),
                        float(lo),
                        float(hi),
                        float(count),
                        float(row[5]) if len(row) > 5 and row[5] is not None else None,
                    )
        for device, rows in raw_values.items():
            rows.sort(key=itemgetter(0))  # spans in order already; sorted for certain
            ts = [int(r[0]) for r in rows if r[1] is not None]
            vs = [float(r[1]) for r in rows if r[1] is not None]
            out.setdefault("raw", {})[device] = values_parts(ts, vs, every_ms, mkt=True)
        return out

    async def raw_rows(
        self,
        measurement: str,
        device: str,
        start_ms: int,
        end_ms: int,
        *,
        counties: Counties = None,
    ) -> list[tuple[int, dict[str, float]]]:
        if counties is not None and not counties:
            return []
        q = (
            f'SELECT * FROM {quote_ident(self.database)}."raw".{quote_ident(measurement)} '
            f"WHERE device = {quote_string(device)}{_in_counties(counties)} "
            f"AND time >= {int(start_ms)}ms AND time < {int(end_ms)}ms"
        )
        out = []
        for s in await self.query(q):
            cols = s.get("columns", [])
            keep = [
                (i, c) for i, c in enumerate(cols) if c not in ("time", "county", "device", "site")
            ]
            for row in s.get("values", []):
                fields = {c: float(row[i]) for i, c in keep if row[i] is not None}
                if fields:
                    out.append((int(row[0]), fields))
        out.sort(key=lambda r: r[0])
        return out

    async def previous(
        self,
        measurement: str,
        device: str,
        fields: Sequence[str],
        before_ms: int,
        lookback_ms: int,
        *,
        counties: Counties = None,
    ) -> dict[str, tuple[int, float]]:
        if not fields or (counties is not None and not counties):
            return {}
        for f in fields:
            check_metric(f)
        where = (
            f"WHERE device = {quote_string(device)}{_in_counties(counties)} "
            f"AND time >= {int(before_ms - lookback_ms)}ms AND time < {int(before_ms)}ms"
        )
        source = _raw(measurement)
        stmts = ";".join(f"SELECT last({quote_ident(f)}) FROM {source} {where}" for f in fields)
        out: dict[str, tuple[int, float]] = {}
        for f, series in zip(fields, await self._multi(stmts), strict=True):
            for s in series:
                for ts, value in s.get("values", []):
                    if value is not None:
                        out[f] = (int(ts), float(value))
        return out

    async def evidence_reads(
        self,
        measurement: str,
        device: str,
        metric: str,
        reads: EvidenceReads,
        *,
        counties: Counties = None,
    ) -> EvidenceData:
        """All of one pass in one request: a statement per raw span, per previous
        reading (``last()``) and per roll-up span."""
        check_metric(metric)
        n_raw, n_prev = len(reads.raw), len(reads.prev)
        if (counties is not None and not counties) or not (n_raw + n_prev + len(reads.rollups)):
            return EvidenceData(
                [([], []) for _ in reads.raw], [None] * n_prev, [{} for _ in reads.rollups]
            )
        qf = quote_ident(metric)
        who = f"WHERE device = {quote_string(device)}{_in_counties(counties)}"
        raw = _raw(measurement)
        names = [f"{metric}_{p}" for p in EVIDENCE_PARTS]
        part_of = dict(zip(names, EVIDENCE_PARTS, strict=True))
        sel = ", ".join(quote_ident(n) for n in names)
        stmts = [
            f"SELECT {qf} FROM {raw} {who} AND time >= {a}ms AND time < {b}ms" for a, b in reads.raw
        ]
        stmts += [
            f"SELECT last({qf}) FROM {raw} {who} AND time >= {t - lb}ms AND time < {t}ms"
            for t, lb in reads.prev
        ]
        for resolution, (a, b) in reads.rollups:
            rp = quote_ident(RETENTION_POLICY[resolution])
            source = f"{quote_ident(self.database)}.{rp}.{quote_ident(measurement)}"
            stmts.append(
                f"SELECT {sel} FROM {source} {who} AND time >= {a}ms AND time < {b}ms "
                "GROUP BY county"
            )
        answers = await self._multi(";".join(stmts))
        out = EvidenceData()
        for series in answers[:n_raw]:
            rows = [r for s in series for r in s.get("values", []) if r[1] is not None]
            if len(series) > 1:
                rows.sort(key=itemgetter(0))
            out.raw.append(([int(r[0]) for r in rows], [float(r[1]) for r in rows]))
        for series in answers[n_raw : n_raw + n_prev]:
            got = [r for s in series for r in s.get("values", []) if r[1] is not None]
            out.prev.append((int(got[-1][0]), float(got[-1][1])) if got else None)
        for series in answers[n_raw + n_prev :]:
            windows: dict[int, dict[str, float]] = {}
            for s in series:  # one per county
                cols = [part_of.get(c) for c in s.get("columns", [])]
                for row in s.get("values", []):
                    parts = {
                        p: float(v)
                        for p, v in zip(cols, row, strict=True)
                        if p is not None and v is not None
                    }
                    if parts:
                        merge_window_parts(windows.setdefault(int(row[0]), {}), parts)
            out.rollups.append(windows)
        return out

    async def measurement_of(self, device: str, *, counties: Counties = None) -> str | None:
        """The measurement whose series hold the device (InfluxDB's index, every
        retention policy); the readings themselves are read under ``counties``."""
        del counties  # the kind of a device is not a reading
        series = await self.query(f"SHOW MEASUREMENTS WHERE device = {quote_string(device)}")
        found = sorted({str(row[0]) for s in series for row in s.get("values", [])})
        if len(found) > 1:
            raise ValueError(f"device {device!r} has readings in {found}: give the measurement")
        return found[0] if found else None

    async def count(self, measurement: str, device: str | None = None) -> int:
        # Count rows (points), not field values: every point we write has at least one
        # metric; count the most populated field.
        keys = await self.query(f"SHOW FIELD KEYS FROM {_raw(measurement)}")
        fields = [
            row[0]
            for s in keys
            for row in s.get("values", [])
            if not row[0].endswith(QUALITY_SUFFIX)
        ]
        if not fields:
            return 0
        where = f" WHERE device = {quote_string(device)}" if device is not None else ""
        sel = ", ".join(f"count({quote_ident(f)})" for f in fields)
        best = 0
        for s in await self.query(f"SELECT {sel} FROM {_raw(measurement)}{where}"):
            for row in s.get("values", []):
                best = max(best, *(int(x or 0) for x in row[1:]))
        return best


#: Reads up to this long are sent as a GET (InfluxDB takes SELECT and SHOW either way).
GET_QUERY_CHARS = 4000

#: What the connection pool of the reads raises when InfluxDB cannot be reached.
TRANSPORT_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)


def _reads_only(statements: str) -> bool:
    """Whether every statement is a SELECT (not SELECT INTO) or a SHOW, which InfluxDB
    takes in a GET. A ``;`` or ``INTO`` inside a quoted name only makes this answer
    no: the query is then POSTed, as every query may be."""
    heads = (part.lstrip()[:7].upper() for part in statements.split(";"))
    return all(h.startswith(("SELECT ", "SHOW ")) for h in heads) and (
        " INTO " not in statements.upper()
    )


def _raw(measurement: str) -> str:
    """``"raw"."<measurement>"``: read raw points where they are written, by name."""
    return f"{quote_ident(RAW_RP)}.{quote_ident(measurement)}"


def _in_counties(counties: Counties) -> str:
    """`` AND (county = 'a' OR ...)``: the county filter of a read (empty: every county)."""
    if counties is None:
        return ""
    return " AND (" + " OR ".join(f"county = {quote_string(c)}" for c in counties) + ")"


#: What InfluxDB (1.x, 2.x v1 compatibility, 3.x) says in a 400 that refuses the data
#: itself. Any other answer (401/403 credentials, 404 database not found, a 400 about the
#: request such as "database is required", 5xx) is an outage: the data is kept and the
#: write retried, never dead-lettered.
CONTENT_ERRORS = (
    "partial write",
    "unable to parse",
    "parsing failed",
    "field type conflict",
    "invalid column type",
    "invalid field",
    "fields required",
    "missing fields",
    "beyond retention",
    "max-values-per-tag",
    "max-series-per-database",
    "overflow",
)


def is_content_error(detail: str) -> bool:
    """Whether a 400's body refuses the data (so bisecting finds the refused points)."""
    text = detail.lower()
    return any(marker in text for marker in CONTENT_ERRORS)


def _advice(status: int, detail: str) -> str:
    if status in (401, 403):
        return (
            "; check DEHONG_INFLUX_USERNAME and DEHONG_INFLUX_PASSWORD (and the user's "
            "WRITE privilege); the data is kept and retried"
        )
    if status == 404:
        return (
            "; the database is missing: restart ingest (it creates it) or run CREATE "
            "DATABASE; the data is kept and retried"
        )
    if "retention policy not found" in detail:
        return (
            "; the retention policy is missing: restart ingest (it creates the raw and "
            "roll-up policies); the data is kept and retried"
        )
    return ""


def _error_body(content: bytes) -> str:
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return content.decode(errors="replace")[:500]
    if not isinstance(body, dict):
        return str(body)[:500]
    return str(body.get("error") or body.get("message") or body)[:500]
