"""The FastAPI application: ``create_app(settings)``; routers under ``/api/v1``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud.auth.deps import require
from cloud.auth.secret_check import WeakSecretError, check_settings
from cloud.db import Database
from cloud.errors import http_error_handler, responses, validation_error_handler
from cloud.settings import Settings
from cloud.timeseries import TimeSeriesStore, store_for

API_PREFIX = "/api/v1"


class InsecureSettingsError(RuntimeError):
    """The settings are not safe to serve with."""


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "error"]
    timeseries: Literal["ok", "error"]


def check_secret(settings: Settings) -> None:
    """Refuse placeholder and guessable secrets (:mod:`cloud.auth.secret_check`); the
    marked demo default only with ``DEHONG_DEMO=1``."""
    try:
        check_settings(settings, jwt=True)
    except WeakSecretError as exc:
        raise InsecureSettingsError(str(exc)) from None


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    tsdb: TimeSeriesStore | None = None,
) -> FastAPI:
    """The API. ``db``/``tsdb`` given: used as they are (the caller opens and closes
    them); otherwise made from ``settings`` and opened/closed by the app's lifespan.

    Raises InsecureSettingsError with a placeholder or guessable secret (the demo
    JWT secret is allowed with ``settings.demo``).
    """
    check_secret(settings)
    from cloud.wiring import wire

    wire()  # the public-service figures into MOFCOM, the H5 home and supervision
    own_db = db is None
    own_tsdb = tsdb is None
    database = db if db is not None else Database(settings.database_url)
    store = tsdb if tsdb is not None else store_for(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from cloud.logistics.router import shutdown as logistics_shutdown
        from cloud.logistics.router import startup as logistics_startup

        if own_tsdb:
            await store.open()
        await logistics_startup(app)
        try:
            yield
        finally:
            await app.state.position_intake.close()
            await logistics_shutdown(app)
            if own_tsdb:
                await store.close()
            if own_db:
                await database.dispose()

    app = FastAPI(
        title="Dehong traceability platform API",
        version="1",
        summary="Gateways, devices, readings, audit; county-scoped.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    # the settings travel with each session: functions called with a session alone (the
    # serials' check_code and the scan log, cloud/resolver) read their key and limits there
    database.sessions.configure(info={"dehong.settings": settings})
    app.state.db = database
    app.state.tsdb = store
    from cloud.devices.gateway_auth import gateway_principal

    app.state.gateway_credentials = gateway_principal  # HTTP Basic: a gateway as itself
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)

    from cloud.audit.router import router as audit_router
    from cloud.auth.router import router as auth_router
    from cloud.catalog.router import router as catalog_router
    from cloud.coldchain.router import router as coldchain_router
    from cloud.commerce.router import router as commerce_router
    from cloud.commerce.screen.router import install as install_screen
    from cloud.devices.firmware.router import router as firmware_router
    from cloud.devices.router import router as devices_router
    from cloud.ingest.router import router as dead_letters_router
    from cloud.inspections.router import router as inspections_router
    from cloud.logistics.router import install as install_logistics
    from cloud.logistics.router import router as logistics_router
    from cloud.logistics.waybills.phone.router import install as install_driver_page
    from cloud.metrics.api import install as install_metrics
    from cloud.resolver.labels.router import router as labels_router
    from cloud.resolver.page.router import install as install_trace_page
    from cloud.resolver.page.router import router as trace_page_router
    from cloud.resolver.router import router as resolver_router
    from cloud.resolver.scans.router import router as scans_router
    from cloud.resolver.serials.router import router as serials_router
    from cloud.services.cms.router import install as install_services_h5
    from cloud.services.cms.router import pages as cms_pages
    from cloud.services.cms.router import public as cms_public
    from cloud.services.cms.router import router as cms_router
    from cloud.services.h5.router import api as h5_api_router
    from cloud.services.h5.router import install as install_h5
    from cloud.services.mofcom.router import router as mofcom_router
    from cloud.services.poverty.router import public as poverty_public_router
    from cloud.services.poverty.router import router as poverty_router
    from cloud.services.registry.router import public as registry_public
    from cloud.services.registry.router import router as registry_router
    from cloud.services.showcase.router import pages as showcase_pages
    from cloud.services.showcase.router import public as showcase_public
    from cloud.services.showcase.router import router as showcase_router
    from cloud.services.statforms.router import router as statforms_router
    from cloud.services.stations.router import install as install_stations_page
    from cloud.services.stations.router import public as stations_public_router
    from cloud.services.stations.router import router as stations_router
    from cloud.services.training.router import pages as training_pages
    from cloud.services.training.router import public as training_public
    from cloud.services.training.router import router as training_router
    from cloud.supervision.public import install as install_disclosure
    from cloud.supervision.router import router as supervision_router
    from cloud.trace.phone.router import install as install_phone_page
    from cloud.trace.router import router as trace_router
    from cloud.web.shell import install as install_web_shell

    # /livez and /healthz first: a request is matched against the routes in order
    # (declared last, /healthz paid the whole scan, 0.9-1.4 ms of its CPU: bench services)
    @app.get(
        "/livez",
        dependencies=[require("public")],
        tags=["health"],
        summary="The process answers (public; touches no store): a liveness probe that "
        "does not restart the API for a database outage, and the benches' trivial baseline",
    )
    async def livez() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get(
        "/healthz",
        response_model=Health,
        dependencies=[require("public")],
        tags=["health"],
        summary="Liveness and backing stores (public; 503 when degraded)",
        responses={503: {"model": Health, "description": "A backing store is down"}},
    )
    async def healthz(request: Request) -> JSONResponse:
        # both stores at once: each answer waits for its round trips, a turn of the
        # event loop each, which on a loaded loop are most of the request's time
        database_ok, ts_ok = await asyncio.gather(
            _db_ok(request.app.state.db), _ping(request.app.state.tsdb)
        )
        health = Health(
            status="ok" if database_ok and ts_ok else "degraded",
            database="ok" if database_ok else "error",
            timeseries="ok" if ts_ok else "error",
        )
        return JSONResponse(health.model_dump(), status_code=200 if health.status == "ok" else 503)

    # 422 documented with our Error model everywhere, not FastAPI's HTTPValidationError.
    # The public routers first: a request is matched against the routes in order, and
    # the phones' public API is the hot path (bench services: matching a public path
    # after every other router cost 0.6-0.8 ms of its 1.4 ms in-process).
    for router in (
        training_public,  # the public training calendar, check-in, verification (issue 15)
        stations_public_router,  # /api/v1/public/stations: the stations map data
        poverty_public_router,  # /api/v1/public/poverty/aggregates (suppressed)
        registry_public,  # self-registration of organisations (issue 15)
        showcase_public,  # the public showcase JSON (issue 15)
        cms_public,  # published policies, news, notices (issue 15)
        h5_api_router,  # the public H5 site's JSON: /public/home, /public/lookup (issue 15)
        auth_router,
        devices_router,
        audit_router,
        dead_letters_router,
        inspections_router,
        catalog_router,
        trace_router,
        coldchain_router,  # excursions, alarms, MKT (issue 13)
        trace_page_router,
        serials_router,  # serial ranges and their codes (issue 12)
        labels_router,  # QR labels (issue 12)
        scans_router,  # the scan place endpoint and scan anomaly flags (issue 12)
        logistics_router,  # logistics (issue 13): positions, fleet, supply, waybills, console
        firmware_router,  # signed MCU node images and staged rollouts (issue 16)
        commerce_router,  # e-commerce shops, orders, imports, indicators (issue 14)
        supervision_router,  # programme supervision: budget, reports, disclosure (issue 15)
        training_router,  # 电商学院: courses, sessions, enrolments, certificates (issue 15)
        stations_router,  # service stations (issue 15)
        poverty_router,  # poverty-alleviation households, links, income (issue 15)
        statforms_router,  # monthly statistics forms of the stations (issue 15)
        registry_router,  # county review, platforms' API keys (issue 15)
        showcase_router,  # showcase entries and photos (issue 15)
        cms_router,  # the CMS (issue 15)
        mofcom_router,  # the MOFCOM export, its pushes and their log (issue 15)
    ):
        app.include_router(router, prefix=API_PREFIX, responses=responses(422))
    install_metrics(app)
    install_logistics(app)  # after the metrics: its counters join the app's registry
    install_phone_page(app)  # the phone page (/m/trace): outside /api/v1
    install_driver_page(app)  # the driver's page (/m/driver), issue 13
    install_web_shell(app)  # the shared page shell's static files (/static/web)
    install_trace_page(app)  # the consumer trace page's static files (/static/trace-page)
    install_stations_page(app)  # the H5 stations map (/h5/stations), issue 15
    install_screen(app)  # the big-data wall (/screen, /api/v1/screen), issue 14
    install_disclosure(app, API_PREFIX)  # /disclosure and /api/v1/public/disclosure, issue 15
    app.include_router(training_pages)  # /h5/training: calendar, check-in, verify (issue 15)
    install_services_h5(app)  # the public-service H5 pages' stylesheet (issue 15)
    app.include_router(showcase_pages, responses=responses(422))  # /h5/showcase (issue 15)
    app.include_router(cms_pages, responses=responses(422))  # /h5/policies (issue 15)
    install_h5(app)  # the public H5 site (/h5/, /h5/trace, /static/h5), issue 15
    # the GS1 Digital Link resolver (/01/..., /gtin/..., /.well-known/gs1resolver): at the
    # root; its default link is cloud.resolver.page.views.trace_page
    app.include_router(resolver_router)

    return app


async def _db_ok(db: Database) -> bool:
    try:
        async with db.session() as s:
            await s.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "error", reported, not raised
        return False
    return True


async def _ping(store: TimeSeriesStore) -> bool:
    try:
        return await store.ping()
    except Exception:  # noqa: BLE001 - a store that raises is down
        return False
