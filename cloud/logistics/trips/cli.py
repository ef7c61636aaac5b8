"""``dehong logistics recompute``: the trips recompute job alone (``--once``: until no
window is left, then exit). Only the standard library at module level."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "recompute",
        help="recompute trips, stops and geofence events of the windows fixes touched "
        "(every DEHONG_TRIPS_RECOMPUTE_INTERVAL_S, or --once)",
    )
    p.add_argument("--once", action="store_true", help="until no window is left, then exit")
    p.set_defaults(handler=_recompute)


async def _recompute(args: argparse.Namespace) -> int:
    from cloud.db import Database
    from cloud.logistics.trips.job import RecomputeJob, RecomputeSettings
    from cloud.logistics.waybills import arrival
    from cloud.settings import get_settings
    from cloud.timeseries import store_for

    settings = get_settings()
    cfg = RecomputeSettings()
    arrival.register()
    db = Database(settings.database_url)
    store = store_for(settings)
    await store.open()
    try:
        job = RecomputeJob(db, store, batch=cfg.batch, lease_s=cfg.lease_s)
        if args.once:
            n = await job.run_until_idle()
            print(f"{n} windows recomputed, {job.stats.failures} spans failed (left marked)")
            return 1 if job.stats.failures else 0
        await job.run(cfg.interval_s or 30.0)
    finally:
        await store.close()
        await db.dispose()
    return 0
