"""``GET /metrics`` of the API process (Prometheus text).

The API process sees the relational store, not the ingest workers' memory, so
it reports what the database knows (dead letters waiting, by reason and county;
gateways by status; roll-up windows waiting) and its own HTTP requests. Each
ingest worker serves its own counters on ``DEHONG_INGEST_METRICS_PORT``
(:mod:`cloud.metrics.server`); Prometheus scrapes both. When ingest runs inside
the API process (``dehong demo``), its counters are appended here as well
(``app.state.ingest_metrics``: callables that render a worker's counters).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from sqlalchemy import func, select

from cloud.devices.service import gateway_status
from cloud.devices.storage import Gateway
from cloud.ingest.storage import DeadLetter
from cloud.metrics.text import CONTENT_TYPE, Exposition, Histogram
from cloud.timeseries.rollup_storage import RollupPending


class ApiMetrics:
    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.latency = Histogram()


async def render(request: Request) -> str:
    app = request.app
    m: ApiMetrics = app.state.api_metrics
    e = Exposition()
    e.counter(
        "dehong_api_requests_total",
        "HTTP requests by method, route and status",
        [
            ({"method": meth, "route": route, "status": status}, n)
            for (meth, route, status), n in sorted(m.requests.items())
        ]
        or [({"method": "GET", "route": "/metrics", "status": "200"}, 0)],
    )
    e.histogram("dehong_api_request_seconds", "HTTP request latency", m.latency)
    async with app.state.db.session() as s:
        dead = (
            await s.execute(
                select(DeadLetter.county, DeadLetter.code, func.count())
                .where(DeadLetter.replayed_at.is_(None))
                .group_by(DeadLetter.county, DeadLetter.code)
            )
        ).all()
        gateways = list((await s.execute(select(Gateway))).scalars())
        pending = (await s.execute(select(func.count()).select_from(RollupPending))).scalar_one()
    e.gauge(
        "dehong_dead_letters",
        "Dead letters not replayed, by county and reason",
        [({"county": c or "none", "reason": code}, n) for c, code, n in dead]
        or [({"county": "none", "reason": "none"}, 0)],
    )
    by_status = Counter((g.county, gateway_status(g)) for g in gateways)
    e.gauge(
        "dehong_gateways",
        "Gateways by county and status",
        [({"county": c, "status": st}, n) for (c, st), n in sorted(by_status.items())]
        or [({"county": "none", "status": "none"}, 0)],
    )
    e.gauge("dehong_rollup_pending_windows", "Hours of series waiting for roll-up", pending)
    text = e.render()
    for render_ingest in getattr(app.state, "ingest_metrics", []):
        text += render_ingest()
    return text


def install(app: FastAPI) -> None:
    app.state.api_metrics = ApiMetrics()

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        m: ApiMetrics = request.app.state.api_metrics
        m.requests[(request.method, path, str(response.status_code))] += 1
        m.latency.observe(time.perf_counter() - started)
        return response

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics of the API process (public, no personal data)",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text"}},
    )
    async def metrics(request: Request) -> Response:
        return Response(await render(request), media_type=CONTENT_TYPE)
