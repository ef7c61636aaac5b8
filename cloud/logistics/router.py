"""Every logistics route, under ``/api/v1``: the sub-packages' routers joined.

``install(app)`` adds what lives outside ``/api/v1`` (pages, assets, state, metrics),
and wires the parts to each other: the console's providers (:mod:`.console.wiring`),
the cold chain's engine on the positions intake (:mod:`.positions.coldchain`), the
delivery code's SMS sender (:mod:`.waybills.sms`). ``startup(app)``/``shutdown(app)``
run from the app's lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from cloud.logistics.console.router import install as install_console
from cloud.logistics.console.router import router as console_router
from cloud.logistics.console.wiring import install_console_providers
from cloud.logistics.fleet.router import router as fleet_router
from cloud.logistics.positions import router as positions_router
from cloud.logistics.positions.coldchain import PositionsColdChain, coldchain_enabled
from cloud.logistics.supply.router import router as supply_router
from cloud.logistics.trips import console as trips_console
from cloud.logistics.trips.job import RecomputeJob, RecomputeSettings
from cloud.logistics.trips.router import router as trips_router
from cloud.logistics.waybills import arrival
from cloud.logistics.waybills.codes import CodeSender
from cloud.logistics.waybills.router import router as waybills_router
from cloud.logistics.waybills.sms import code_sender_from_env
from cloud.notify import Notifier
from cloud.pii import PiiKeyError, keyring_for

log = logging.getLogger(__name__)

router = APIRouter()
for sub in (
    positions_router.router,
    fleet_router,
    supply_router,
    waybills_router,
    trips_router,
    console_router,
):
    router.include_router(sub)


def install(app: FastAPI) -> None:
    """What the sub-packages add to the app beside their routes."""
    positions_router.install(app)
    install_console(app)
    trips_console.register()  # the console's trips, replay and geofences
    arrival.register()  # geofence enter at a waybill's destination: arrived
    install_recompute(app)
    install_console_providers()  # alarms, fleet, waybills and capacity from the packages
    app.state.positions_coldchain = None
    if coldchain_enabled():
        feed = PositionsColdChain(app.state.db, app.state.tsdb)
        feed.attach(app.state.position_intake)
        app.state.positions_coldchain = feed
    app.state.delivery_code_notifier = None
    found = _code_sender(app)
    if found is not None:
        app.state.delivery_code_sender, app.state.delivery_code_notifier = found


def _code_sender(app: FastAPI) -> tuple[CodeSender, Notifier] | None:
    """The delivery code's SMS sender when a channel is configured. Its messages wait
    sealed by the personal-data keyring: without one, the app keeps the log sender."""
    settings = app.state.settings
    try:
        ring = keyring_for(settings.pii_keys.get_secret_value(), settings.pii_key_file,
                           demo=settings.demo)  # fmt: skip
    except PiiKeyError as exc:
        log.warning("delivery codes by SMS are off: personal data is unavailable (%s)", exc)
        return None
    return code_sender_from_env(app.state.db, ring)


def install_recompute(app: FastAPI) -> None:
    """The trips recompute job (``app.state.trips_recompute``) in the app's lifespan,
    every ``DEHONG_TRIPS_RECOMPUTE_INTERVAL_S`` (0: not run by the API)."""
    cfg = RecomputeSettings()
    job = RecomputeJob(app.state.db, app.state.tsdb, batch=cfg.batch, lease_s=cfg.lease_s)
    app.state.trips_recompute = job
    if cfg.interval_s <= 0:
        return
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            job.start(cfg.interval_s)
            try:
                yield state
            finally:
                await job.stop()

    app.router.lifespan_context = lifespan


async def startup(app: FastAPI) -> None:
    """The cold chain's windows backstop of the phones' fixes (and its engine)."""
    feed = getattr(app.state, "positions_coldchain", None)
    if feed is not None:
        feed.start()


async def shutdown(app: FastAPI) -> None:
    feed = getattr(app.state, "positions_coldchain", None)
    if feed is not None:
        await feed.stop()
    notifier = getattr(app.state, "delivery_code_notifier", None)
    if notifier is not None:
        await notifier.aclose()
