"""``GET /metrics`` of the API process (Prometheus text or OpenMetrics).

The API process sees the relational store, not the ingest workers' memory, so
it reports what the database knows (dead letters waiting, by reason and county;
gateways by status; roll-up windows waiting) and its own HTTP requests. Each
ingest worker serves its own counters on ``DEHONG_INGEST_METRICS_PORT``
(:mod:`cloud.metrics.server`); Prometheus scrapes both. When ingest runs inside
the API process (``dehong demo``), its collector is registered in this app's
registry as well (``app.state.metrics_registry``).

- **Access**: the scrape token ``DEHONG_METRICS_TOKEN`` as a bearer token (401
  otherwise; a user's token is not one). Without a configured token the endpoint
  answers 401 saying how to set one, except in demo mode, where it is open.
- **Cost**: the database figures are read at most every ``DEHONG_METRICS_CACHE_S``
  seconds, however often Prometheus (or anyone) scrapes.
- **Registry**: one per app (``CollectorRegistry``), never prometheus_client's
  process-global one, so two apps in one process (tests, the demo) do not mix.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from prometheus_client import Histogram as PromHistogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.db import Database
from cloud.devices.service import gateway_status
from cloud.devices.storage import Gateway
from cloud.errors import ApiError, responses
from cloud.ingest.storage import DeadLetter
from cloud.metrics.access import HOW_TO, render, token_ok
from cloud.metrics.histogram import LATENCY_BUCKETS
from cloud.timeseries import query
from cloud.timeseries.rollup_storage import RollupPending


@dataclass
class StoreFigures:
    dead_letters: list[tuple[str, str, int]] = field(default_factory=list)
    gateways: Counter[tuple[str, str]] = field(default_factory=Counter)
    rollup_pending: int = 0


class StoreCollector(Collector):
    """What the database knows, cached: :meth:`refresh` reads it at most every
    ``max_age_s`` seconds (one reader at a time); :meth:`collect` only reads the cache."""

    def __init__(self, db: Database, max_age_s: float) -> None:
        self.db = db
        self.max_age_s = max_age_s
        self.figures = StoreFigures()
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        if self._fresh():
            return
        async with self._lock:
            if self._fresh():  # another scrape refreshed it while this one waited
                return
            self.figures = await self._read()
            self._read_at = time.monotonic()

    def _fresh(self) -> bool:
        return self._read_at is not None and time.monotonic() - self._read_at < self.max_age_s

    async def _read(self) -> StoreFigures:
        async with self.db.session() as s:
            dead = (
                await s.execute(
                    select(DeadLetter.county, DeadLetter.code, func.count())
                    .where(DeadLetter.replayed_at.is_(None))
                    .group_by(DeadLetter.county, DeadLetter.code)
                )
            ).all()
            gateways = list((await s.execute(select(Gateway))).scalars())
            pending = (
                await s.execute(select(func.count()).select_from(RollupPending))
            ).scalar_one()
        return StoreFigures(
            [(c or "none", code, int(n)) for c, code, n in dead],
            Counter((g.county, gateway_status(g)) for g in gateways),
            int(pending),
        )

    def collect(self) -> Iterator[Metric]:
        f = self.figures
        dead = GaugeMetricFamily(
            "dehong_dead_letters",
            "Dead letters not replayed, by county and reason",
            labels=["county", "reason"],
        )
        for county, code, n in f.dead_letters:
            dead.add_metric([county, code], n)
        yield dead
        gateways = GaugeMetricFamily(
            "dehong_gateways", "Gateways by county and status", labels=["county", "status"]
        )
        for (county, status), n in sorted(f.gateways.items()):
            gateways.add_metric([county, status], n)
        yield gateways
        yield GaugeMetricFamily(
            "dehong_rollup_pending_windows",
            "Hours of series waiting for roll-up",
            value=f.rollup_pending,
        )
        yield GaugeMetricFamily(
            "dehong_metrics_cache_age_seconds",
            "Age of the database figures above",
            value=0.0 if self._read_at is None else time.monotonic() - self._read_at,
        )


class QueryCollector(Collector):
    """The series query layer's counters in this process (:func:`query.stats`): store
    requests it sent, reads that shared one in flight, cache hits and misses."""

    def collect(self) -> Iterator[Metric]:
        st = query.stats()
        for name, doc, value in (
            (
                "store_requests",
                "Time-series store requests of the series query layer",
                st.store_requests,
            ),
            (
                "store_requests_shared",
                "Series reads that shared a store request in flight",
                st.shared,
            ),
            (
                "handed_over",
                "Marked hours whose settled minutes came from the live minutes",
                st.handed_over,
            ),
            ("hour_cache_hits", "Series hour cache hits", st.hour_hits),
            ("hour_cache_misses", "Series hour cache misses", st.hour_misses),
            ("minute_cache_hits", "Series minute cache hits", st.minute_hits),
            ("minute_cache_misses", "Series minute cache misses", st.minute_misses),
        ):
            yield CounterMetricFamily(f"dehong_series_{name}", doc, value=value)


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = PromCounter(
            "dehong_api_requests",
            "HTTP requests by method, route and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = PromHistogram(
            "dehong_api_request_seconds",
            "HTTP request latency",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )


class CountRequests:
    """Counts each HTTP answer by method, route template and status, and observes its
    latency up to the answer's start line (the app's ``api_metrics``).

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``)
    ran every request through a task group, memory streams and a streaming response
    (py-spy on a kept public body, ``dehong bench services`` flat out). A
    request whose app raises is not counted (as before: the error handler outside
    answers it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered: list[tuple[int, float]] = []

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered.append((message["status"], time.perf_counter() - started))
            await send(message)

        await self.app(scope, receive, sending)
        if answered:
            status, took = answered[0]
            path = getattr(scope.get("route"), "path", "unmatched")
            m: ApiMetrics = scope["app"].state.api_metrics
            m.requests.labels(scope["method"], path, str(status)).inc()
            m.latency.observe(took)


def install(app: FastAPI) -> None:
    settings = app.state.settings
    registry = CollectorRegistry(auto_describe=False)
    app.state.metrics_registry = registry
    app.state.api_metrics = ApiMetrics(registry)
    store = StoreCollector(app.state.db, settings.metrics_cache_s)
    registry.register(store)
    registry.register(QueryCollector())

    app.add_middleware(CountRequests)

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics of the API process (scrape token; no personal data)",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {}}, "description": "Prometheus text"},
            **responses(401),
        },
    )
    async def metrics(request: Request) -> Response:
        current = request.app.state.settings
        token = current.metrics_token.get_secret_value()
        open_in_demo = current.demo and not token
        if not open_in_demo and not token_ok(request.headers.get("authorization"), token):
            why = "send the scrape token" if token else "no scrape token is configured"
            raise ApiError(
                401,
                f"{why}: Authorization: Bearer <DEHONG_METRICS_TOKEN>; {HOW_TO}",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        await store.refresh()
        body, content_type = render(registry, request.headers.get("accept"))
        return Response(body, media_type=content_type)
