"""``dehong cloud ...``: database, API server, ingest worker, gateways, users, API keys.

Only the standard library is imported at module level: the edge-only install
must still be able to build the whole ``dehong`` parser.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import AsyncIterator, Coroutine
from typing import Any

#: The assignable roles of cloud/auth/policy.py (docs/roles.md); spelled out so that
#: the CLI imports no web framework (tests/cloud/test_api_roles.py checks they agree).
ROLES = (
    "prefecture_admin",
    "county_admin",
    "dispatcher",
    "poverty_officer",
    "auditor",
    "display",
    "operator",
    "carrier",
    "driver",
    "station_operator",
    "trainer",
    "operating_company",
    "platform",
)
SERVICE_ROLES = ("ingest", "api")


def _register_trace_extras() -> None:
    """``dehong trace dl ...`` (issue 12) lives in cloud.resolver (floor 6), which
    cloud.trace may not import: it joins the trace command's sub-commands from here
    (dehong/cli.py registers cloud.cli before cloud.trace.cli)."""
    from cloud.resolver import cli as resolver_cli
    from cloud.trace import cli as trace_cli

    if resolver_cli.register not in trace_cli.COMMANDS:
        trace_cli.COMMANDS.append(resolver_cli.register)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _register_backup(subparsers)
    _register_trace_extras()
    cloud = subparsers.add_parser("cloud", help="the cloud: API, ingest, provisioning")
    sub = cloud.add_subparsers(dest="cloud_command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "init-db",
        help="create or upgrade the relational schema and the time-series database with "
        "its retention policies (raw 100 d, 1-min and 1-h roll-ups 800 d); idempotent",
    )
    p.set_defaults(handler=_init_db)

    p = sub.add_parser(
        "jobs",
        help="the programme's scheduled jobs in one process (cloud/jobs.py): supervision "
        "reminders, the households' retention sweep, the MOFCOM push; runs until stopped",
    )
    p.add_argument("--once", action="store_true", help="run every job once, one JSON line each")
    p.add_argument(
        "--check",
        action="store_true",
        help="health check: exit 0 when DEHONG_JOBS_STATUS_FILE shows a fresh heartbeat and "
        "no failed job, else 1 with the reason",
    )
    p.set_defaults(handler=_jobs)

    p = sub.add_parser("rollup", help="recompute the roll-ups of every marked hour")
    p.add_argument("--once", action="store_true", help="catch up once and exit")
    p.add_argument(
        "--all-since",
        default=None,
        metavar="ISO",
        help="first mark every hour since this time (e.g. 2026-01-01T00:00+08:00) for every "
        "device in the registry, to rebuild roll-ups",
    )
    p.set_defaults(handler=_rollup)

    p = sub.add_parser("serve", help="run the HTTP API (uvicorn)")
    p.add_argument("--host", default=None, help="default: DEHONG_API_HOST (127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="default: DEHONG_API_PORT (8080)")
    p.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="API processes on the port (uvicorn's workers; default 1). Each keeps its own "
        "rate-limit buckets, kept public bodies and metrics; not with "
        "DEHONG_POSITIONS_OSMAND_WITH_API",
    )
    p.set_defaults(handler=_serve)

    p = sub.add_parser("ingest", help="run an ingest worker")
    p.set_defaults(handler=_ingest)

    gw = sub.add_parser("gateway", help="provision and list gateways")
    gws = gw.add_subparsers(dest="gateway_command", required=True, metavar="COMMAND")
    p = gws.add_parser(
        "add", help="register a gateway; prints its MQTT credentials once and updates Mosquitto"
    )
    p.add_argument("--county", required=True, help="GB/T 2260 code, e.g. 533103")
    p.add_argument("--name", required=True)
    p.add_argument("--site", default=None, help="site id; default: the gateway id")
    p.add_argument("--id", dest="gateway_id", default=None, help="default: a slug of --name")
    p.set_defaults(handler=_gateway_add)
    p = gws.add_parser("list", help="list gateways and their state")
    p.add_argument("--county", default=None)
    p.set_defaults(handler=_gateway_list)
    p = gws.add_parser("revoke", help="revoke a gateway's broker credentials")
    p.add_argument("gateway_id")
    p.set_defaults(handler=_gateway_revoke)
    p = gws.add_parser(
        "rotate", help="give a gateway a new broker password (printed once); updates Mosquitto"
    )
    p.add_argument("gateway_id")
    p.set_defaults(handler=_gateway_rotate)

    p = sub.add_parser(
        "mosquitto-sync", help="regenerate Mosquitto's passwd and acl from the database; SIGHUP"
    )
    p.set_defaults(handler=_mosquitto_sync)

    sa = sub.add_parser("service-account", help="broker accounts of the cloud's own services")
    sas = sa.add_subparsers(dest="sa_command", required=True, metavar="COMMAND")
    p = sas.add_parser("ensure", help="create if missing; prints the password when created")
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, choices=SERVICE_ROLES)
    p.add_argument("--reset", action="store_true", help="set a new password even if it exists")
    p.set_defaults(handler=_service_account_ensure)

    user = sub.add_parser("user", help="manage users")
    us = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    p = us.add_parser("add", help="create a user")
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--county", required=True, help="533100 for a prefecture_admin")
    p.add_argument(
        "--password",
        default=None,
        help="default: prompt on a terminal, else generate one and print it",
    )
    p.add_argument("--display-name", default="")
    p.add_argument("--org-id", default=None, help="organisation of an organisation role")
    p.set_defaults(handler=_user_add)

    key = sub.add_parser("apikey", help="manage API keys")
    ks = key.add_subparsers(dest="apikey_command", required=True, metavar="COMMAND")
    p = ks.add_parser("add", help="create an API key; prints it once")
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--county", required=True)
    p.add_argument("--org-id", default=None, help="organisation of an organisation role")
    p.set_defaults(handler=_apikey_add)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


def _fail(message: str) -> int:
    print(f"dehong cloud: {message}", file=sys.stderr)
    return 2


def _settings() -> Any:
    from cloud.settings import get_settings

    return get_settings()


async def _open_db(settings: Any) -> Any:
    """The database, after checking that its schema exists."""
    from sqlalchemy import inspect

    from cloud.db import Database

    db = Database(settings.database_url)
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    if "gateways" not in tables:
        await db.dispose()
        raise SystemExit(
            _fail(
                f"the database {settings.database_url} has no schema yet; "
                "run `dehong cloud init-db` first"
            )
        )
    return db


# ------------------------------------------------------------------ handlers


def _init_db(_args: argparse.Namespace) -> Coroutine[Any, Any, Any]:
    from cloud.db.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    print(f"schema of {settings.database_url} is up to date")
    _init_trace_log_key(settings)
    _init_serials_key(settings)
    return _init_tsdb(settings)


def _init_trace_log_key(settings: Any) -> None:
    """The trace log's Ed25519 signing key: made once, never replaced (0600)."""
    from cloud.trace.log.keys import LogKeyError, ensure_key, key_path

    try:
        signer, made = ensure_key(settings)
    except LogKeyError as exc:
        raise SystemExit(_fail(str(exc))) from None
    state = "made" if made else "kept"
    print(f"trace log signing key {key_path(settings)} ({state}; back it up, never commit it)")
    print(f"trace log verifier key (public): {signer.verifier.vkey}")


def _init_serials_key(settings: Any) -> None:
    """The key of the serials' authentication codes: made once, never replaced (0600)."""
    from cloud.resolver.serials.keys import SerialKeyError, ensure_key, key_path

    try:
        _key, made = ensure_key(settings)
    except SerialKeyError as exc:
        raise SystemExit(_fail(str(exc))) from None
    state = "made" if made else "kept"
    print(f"serials code key {key_path(settings)} ({state}; back it up, never commit it)")


#: Printed by init-db: the broker accounts are made by another command.
NEXT_STEPS = """next: the cloud's own broker accounts (each password is printed once, when created):
  dehong cloud service-account ensure --name ingest-1 --role ingest
  dehong cloud service-account ensure --name ingest-2 --role ingest   # one per ingest worker
  dehong cloud service-account ensure --name api --role api
put them in .env (DEHONG_INGEST_1_MQTT_PASSWORD, DEHONG_INGEST_2_MQTT_PASSWORD,
DEHONG_API_MQTT_PASSWORD); --reset prints a new one. Then: dehong cloud gateway add ..."""


async def _init_tsdb(settings: Any) -> int:
    from cloud.timeseries import store_for

    tsdb = store_for(settings)
    await tsdb.open()  # creates the database and its retention policies, idempotent
    await tsdb.close()
    where = settings.influx_url or settings.tsdb_path
    print(f"time-series store {where}: raw 100 d, roll-ups 1 m and 1 h 800 d")
    print(NEXT_STEPS)
    return 0


async def _rollup(args: argparse.Namespace) -> int:
    from datetime import datetime

    from sqlalchemy import select

    from cloud.devices.storage import Device
    from cloud.timeseries import store_for
    from cloud.timeseries.rollup import RollupJob, mark_hours
    from cloud.timeseries.windows import HOUR_MS

    settings = _settings()
    db = await _open_db(settings)
    tsdb = store_for(settings)
    await tsdb.open()
    try:
        if args.all_since:
            try:
                since = datetime.fromisoformat(args.all_since)
            except ValueError:
                return _fail(f"--all-since {args.all_since!r}: give an ISO time with zone")
            if since.tzinfo is None:
                return _fail("--all-since: give a time zone, e.g. +08:00")
            start = int(since.timestamp() * 1000) // HOUR_MS * HOUR_MS
            end = int(datetime.now(since.tzinfo).timestamp() * 1000)
            async with db.session() as s:
                devices = list((await s.execute(select(Device))).scalars())
            marks = {
                (d.kind, d.id, d.county, h): d.site
                for d in devices
                for h in range(start, end, HOUR_MS)
            }
            print(f"marked {await mark_hours(db, marks)} hours")
        job = RollupJob(db, tsdb)
        if args.once:
            print(f"recomputed {await job.run_until_idle()} hours")
        else:
            await job.run(settings.rollup_interval_s or 30.0)
    finally:
        await tsdb.close()
        await db.dispose()
    return 0


async def _jobs(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    from datetime import UTC, datetime

    import orjson

    from cloud.jobs import Runner, check_status, programme_jobs
    from cloud.notify import Notifier, channels_from_env
    from cloud.wiring import wire

    settings = _settings()
    if args.check:
        if settings.jobs_status_file is None:
            return _fail("--check: set DEHONG_JOBS_STATUS_FILE (the runner's status file)")
        problem = check_status(settings.jobs_status_file, datetime.now(UTC))
        if problem:
            print(f"dehong cloud jobs: unhealthy: {problem}", file=sys.stderr)
            return 1
        return 0
    try:
        channels = channels_from_env()
    except ValueError as exc:
        return _fail(f"DEHONG_NOTIFY_CHANNELS: {exc}")
    wire()  # the MOFCOM export's providers, as the API registers them
    db = await _open_db(settings)
    notifier = Notifier(db, channels)
    runner = Runner(
        programme_jobs(db, settings, notifier, sorted(channels)), settings.jobs_status_file
    )
    try:
        if args.once:
            failed = 0
            for job in runner.jobs:
                out = await runner.run_once(job)
                failed += out.ok is False
                print(orjson.dumps({"job": job.name, **out.as_dict()}).decode(), flush=True)
            runner.write_status()
            return 1 if failed else 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runner.run(stop)
    finally:
        await notifier.aclose()
        await db.dispose()
    return 0


def freeze_after_startup(app: Any) -> None:
    """Once the app has started, move every object it made so far (modules, routes,
    schemas, pools, caches) into the collector's permanent generation (``gc.freeze``).

    A full (generation 2) collection walks every tracked object; with the whole app on
    the heap that stopped the event loop for 100-190 ms every few seconds under load,
    which was the API's p99 (``/auth/me`` 216 ms at 16 clients with a 32 ms median).
    Frozen objects are still freed by reference counting; only cycles among them wait.

    FastAPI builds each included route's state (dependants, field adapters: 82,000
    objects for our 349 routes) lazily, on the first request that walks it; built after
    the freeze, that state made every full collection walk it again (70 ms under load,
    every 5 s: the public API's p99 at 100 connections flat out), and SQLAlchemy
    configures its mappers on the first query (29,000 objects more). Both are built
    here, before the freeze (:func:`build_lazy_state`)."""
    import gc
    from contextlib import asynccontextmanager

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            build_lazy_state(a)
            gc.collect()
            gc.freeze()
            yield state

    app.router.lifespan_context = lifespan


def build_lazy_state(app: Any) -> None:
    """Build now what the libraries otherwise make on the first request that needs it:
    every route's state (FastAPI's effective route contexts, made on the first request
    that walks the route) and the ORM's mapper configuration (on the first query)."""
    from sqlalchemy.orm import configure_mappers

    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before nested included routers: built at include time
        pass
    else:
        for _ in iter_route_contexts(app.routes):
            pass
    configure_mappers()


def _workers(text: str) -> int:
    """``--workers``: a whole number of processes, 1 to 64."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers: {text!r} is not a whole number") from None
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"--workers: {n} is outside 1-64")
    return n


def worker_app() -> Any:
    """The app of one of ``cloud serve --workers N``'s processes (uvicorn's factory,
    ``cloud.cli:worker_app``): made from the environment's settings, frozen after its
    startup like the single process's."""
    from cloud.app import create_app

    app = create_app(_settings())
    freeze_after_startup(app)
    return app


def server_options() -> dict[str, Any]:
    """uvicorn's options for ``cloud serve`` (one process or each of ``--workers N``):
    asyncio's loop (:mod:`cloud.web.serving`: uvloop accepts one connection per loop
    turn) and the client's address from a trusted proxy's headers."""
    from cloud.web.serving import SERVER_LOOP

    return {"loop": SERVER_LOOP, "proxy_headers": True}


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    import uvicorn

    from cloud.app import InsecureSettingsError, check_secret, create_app
    from cloud.logistics.positions.config import PositionSettings
    from cloud.logistics.positions.serve import serve_api_with_osmand

    settings = _settings()
    host, port = args.host or settings.api_host, args.port or settings.api_port
    if args.workers > 1:
        if PositionSettings().osmand_with_api:
            return _fail(
                f"--workers {args.workers}: DEHONG_POSITIONS_OSMAND_WITH_API serves the OsmAnd "
                "port from the API's one process; use --workers 1, or run the OsmAnd port on "
                "its own (dehong logistics osmand-serve) and unset it"
            )
        try:
            check_secret(settings)  # refused here, not in each worker
        except InsecureSettingsError as exc:
            return _fail(str(exc))
        uvicorn.run(
            "cloud.cli:worker_app",
            factory=True,
            host=host,
            port=port,
            workers=args.workers,
            **server_options(),
        )
        return 0
    try:
        app = create_app(settings)
    except InsecureSettingsError as exc:
        return _fail(str(exc))
    freeze_after_startup(app)
    positions = PositionSettings()
    if positions.osmand_with_api:
        # the OsmAnd port (5055) too, on the API's intake (DEHONG_POSITIONS_OSMAND_WITH_API)
        # uvicorn's Server.serve() runs on the caller's loop: asyncio.run's, the same choice
        asyncio.run(serve_api_with_osmand(app, host, port, positions, **server_options()))
        return 0
    uvicorn.run(app, host=host, port=port, **server_options())
    return 0


async def _ingest(_args: argparse.Namespace) -> int:
    """One ingest worker, with the cold chain's excursion engine and escalation on its
    post-write hooks (``DEHONG_COLDCHAIN_ENGINE=0`` leaves them out) and the window
    marks of MQTT positions (logistics) on its awaited ``stored`` hook."""
    import os

    from cloud.coldchain.service import ColdChain, build
    from cloud.ingest.worker import IngestWorker, main

    running: list[ColdChain] = []

    async def ready(worker: IngestWorker) -> None:
        # MQTT positions mark their windows by fix time, as phone fixes do
        from cloud.logistics.positions import ingested

        ingested.attach(worker.ingest.hooks, worker.ingest.db)
        if os.environ.get("DEHONG_COLDCHAIN_ENGINE", "1") in ("0", "false", "no"):
            return
        cc = build(worker.ingest.db, worker.ingest.tsdb)
        cc.attach(worker.ingest.hooks)
        cc.start()
        running.append(cc)

    try:
        return await main(_settings(), ready=ready)
    finally:
        for cc in running:
            await cc.stop()


async def _gateway_add(args: argparse.Namespace) -> int:
    from cloud.provisioning.service import ProvisioningError, provision_gateway
    from protocol.topics import PREFIX

    settings = _settings()
    db = await _open_db(settings)
    try:
        gw, password = await provision_gateway(
            db,
            args.county,
            args.name,
            args.site,
            args.gateway_id,
            actor=_actor(),
            settings=settings,
        )
    except ProvisioningError as exc:
        return _fail(str(exc))
    finally:
        await db.dispose()
    print(f"gateway:       {gw.id}")
    print(f"county:        {gw.county}")
    print(f"site:          {gw.site}")
    print(f"mqtt username: {gw.id}")
    print(f"mqtt password: {password}")
    print(f"topic prefix:  {PREFIX}/{gw.county}/{gw.id}/")
    print(f"mosquitto:     {settings.mosquitto_dir}/passwd and acl updated")
    print("The password is shown only this once; put it in the gateway's config now.")
    return 0


async def _gateway_list(args: argparse.Namespace) -> int:
    from cloud.devices.service import gateway_status, list_gateways

    settings = _settings()
    db = await _open_db(settings)
    try:
        async with db.session() as s:
            rows = await list_gateways(s, [args.county] if args.county else None)
    finally:
        await db.dispose()
    print(f"{'id':<32} {'county':<7} {'status':<10} {'last seen':<25} name")
    for g in rows:
        seen = g.last_seen_at.isoformat(timespec="seconds") if g.last_seen_at else "-"
        print(f"{g.id:<32} {g.county:<7} {gateway_status(g):<10} {seen:<25} {g.name}")
    return 0


async def _gateway_revoke(args: argparse.Namespace) -> int:
    from cloud.provisioning.service import BrokerNotUpdated, NotFoundError, revoke_gateway

    settings = _settings()
    db = await _open_db(settings)
    try:
        gw = await revoke_gateway(db, args.gateway_id, actor=_actor(), settings=settings)
    except NotFoundError as exc:
        return _fail(str(exc))
    except BrokerNotUpdated as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    finally:
        await db.dispose()
    print(f"gateway {gw.id} revoked; the broker reread its files and closed its session")
    return 0


async def _gateway_rotate(args: argparse.Namespace) -> int:
    from cloud.provisioning.service import ProvisioningError, rotate_gateway

    settings = _settings()
    db = await _open_db(settings)
    try:
        gw, password = await rotate_gateway(db, args.gateway_id, actor=_actor(), settings=settings)
    except ProvisioningError as exc:
        return _fail(str(exc))
    finally:
        await db.dispose()
    print(f"gateway:       {gw.id}")
    print(f"mqtt password: {password}")
    print(f"mosquitto:     {settings.mosquitto_dir}/passwd regenerated; the old password")
    print("               stops working when the broker rereads it (SIGHUP).")
    print("The password is shown only this once; put it in the gateway's config now.")
    return 0


async def _mosquitto_sync(_args: argparse.Namespace) -> int:
    from cloud.provisioning.service import sync_mosquitto

    settings = _settings()
    db = await _open_db(settings)
    try:
        sync = await sync_mosquitto(db, settings)
    finally:
        await db.dispose()
    print(f"wrote {sync.passwd} and {sync.acl}")
    if not sync.reloaded:
        print(f"error: the broker was not reloaded: {sync.detail}", file=sys.stderr)
        return 3
    print(f"broker reloaded: {sync.detail}")
    return 0


async def _service_account_ensure(args: argparse.Namespace) -> int:
    from cloud.provisioning.service import ProvisioningError, ensure_service_account

    settings = _settings()
    db = await _open_db(settings)
    try:
        password = await ensure_service_account(
            db, args.name, args.role, reset=args.reset, actor=_actor(), settings=settings
        )
    except ProvisioningError as exc:
        return _fail(str(exc))
    finally:
        await db.dispose()
    if password is None:
        print(f"service account {args.name} exists (use --reset for a new password)")
    else:
        print(f"mqtt username: {args.name}")
        print(f"mqtt password: {password}")
    return 0


async def _user_add(args: argparse.Namespace) -> int:
    from cloud.auth.principal import Role
    from cloud.auth.service import create_user, generate_password

    password = args.password
    generated = False
    if password is None:
        if sys.stdin.isatty():
            password = getpass.getpass("password: ")
            if password != getpass.getpass("again: "):
                return _fail("the passwords differ")
        else:
            password, generated = generate_password(), True
    settings = _settings()
    db = await _open_db(settings)
    try:
        async with db.transaction() as s:
            user = await create_user(
                s,
                username=args.username,
                password=password,
                role=Role(args.role),
                county=args.county,
                display_name=args.display_name,
                org_id=args.org_id,
                actor=_actor(),
            )
    except ValueError as exc:
        return _fail(str(exc))
    finally:
        await db.dispose()
    print(f"user {user.username} ({user.role}, county {user.county}) created")
    if generated:
        print(f"password: {password}  (shown once)")
    return 0


async def _apikey_add(args: argparse.Namespace) -> int:
    from cloud.auth.principal import Role
    from cloud.auth.service import create_api_key

    settings = _settings()
    db = await _open_db(settings)
    try:
        async with db.transaction() as s:
            new = await create_api_key(
                s,
                name=args.name,
                role=Role(args.role),
                county=args.county,
                org_id=args.org_id,
                actor=_actor(),
            )
    except ValueError as exc:
        return _fail(str(exc))
    finally:
        await db.dispose()
    print(f"api key id: {new.row.id}")
    print(f"X-API-Key:  {new.key}")
    print("The key is shown only this once.")
    return 0


# ------------------------------------------------------------ backup / restore


def _register_backup(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "backup",
        help="back up PostgreSQL, InfluxDB, broker files and signing keys, with a manifest",
    )
    p.add_argument(
        "--to", default=None, help="a directory or s3://bucket/prefix; default DEHONG_BACKUP_TO"
    )
    p.add_argument(
        "--prune", action="store_true", help="then delete backups beyond the retention below"
    )
    p.add_argument("--keep-daily", type=int, default=7, help="newest of each of N days (7)")
    p.add_argument("--keep-weekly", type=int, default=4, help="newest of each of N weeks (4)")
    p.add_argument("--keep-monthly", type=int, default=12, help="newest of each of N months (12)")
    p.set_defaults(handler=_backup)
    p = subparsers.add_parser(
        "restore",
        help="restore a backup into a fresh stack, after checking every file's SHA-256",
    )
    p.add_argument(
        "--from",
        dest="source",
        default=None,
        help="a directory or s3://bucket/prefix; default DEHONG_BACKUP_TO",
    )
    p.add_argument("--name", default=None, help="e.g. dehong-20261203T020000Z; default newest")
    p.set_defaults(handler=_restore)


def _backup_target(settings: Any, where: str | None) -> Any:
    from cloud.provisioning.backup_targets import open_target

    return open_target(where or settings.backup_to, s3_endpoint=settings.backup_s3_endpoint)


def _backup(args: argparse.Namespace) -> int:
    import json

    from cloud.provisioning import backup
    from cloud.provisioning.backup_targets import BackupError

    settings = _settings()
    try:
        target = _backup_target(settings, args.to)
        result = backup.backup(settings, target)
        pruned = (
            backup.prune(
                target,
                daily=args.keep_daily,
                weekly=args.keep_weekly,
                monthly=args.keep_monthly,
            )
            if args.prune
            else []
        )
    except BackupError as exc:
        print(f"dehong backup: {exc}", file=sys.stderr)
        return 1
    out = {"backup": result.name, "to": result.where, "files": result.files, "bytes": result.bytes}
    print(json.dumps({**out, "pruned": pruned}))
    return 0


async def _restore(args: argparse.Namespace) -> int:
    import json

    from cloud.provisioning import backup
    from cloud.provisioning.backup_targets import BackupError

    settings = _settings()
    try:
        manifest = await backup.restore(settings, _backup_target(settings, args.source), args.name)
    except BackupError as exc:
        print(f"dehong restore: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "restored": manifest["name"],
                "taken": manifest["finished"],
                "files": len(manifest["files"]),
                "hours_marked_for_rollup": manifest["hours_marked"],
            }
        )
    )
    print(
        f"next: set DEHONG_JWT_SECRET to {settings.keys_dir}/jwt_secret if it differs, "
        "run `dehong cloud rollup --once`, and reload Mosquitto (SIGHUP)",
        file=sys.stderr,
    )
    return 0
