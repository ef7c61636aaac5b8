"""``dehong demo``: the whole system on embedded defaults, in one process.

An embedded MQTT broker (amqtt) enforcing generated per-gateway credentials and
ACLs, a Modbus TCP cold-store simulator per county cooperative, one provisioned
gateway per county, ingest, SQLite (relational and time series) and the API.
No server to install. Once the gateways' readings arrive, the traced story
(dehong/story.py) follows a Mangshi coffee lot and a Longchuan mango lot into
the simulated cold rooms, with certificates, events, sensor evidence and a
brand decision; then the fleet chapter (dehong/fleet_story.py) puts the mango
on a waybill and a truck, drives the four counties' trucks (phones over
OsmAnd, truck gateways over MQTT) and fails the mango truck's reefer. ``DEHONG_MQTT_URL`` points ingest and gateways at an
external broker instead (which must load the generated passwd/acl files), and
``DEHONG_INFLUX_URL`` at InfluxDB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger("dehong.demo")

#: Clearly marked demo defaults: printed at start, never valid outside the demo
#: (the API refuses the demo JWT secret unless DEHONG_DEMO is set).
DEMO_ADMIN = ("demo-admin", "demo-dehong")
DEMO_COUNTY_ADMIN = ("mangshi-admin", "demo-mangshi")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="run everything on embedded defaults (broker, simulator, gateways, ingest, API)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=None, help="exit after N seconds")
    p.add_argument("--host", default="127.0.0.1", help="address the API and broker bind to")
    p.add_argument("--port", type=int, default=8080, help="API port (0: any free port)")
    p.add_argument("--mqtt-port", type=int, default=0, help="embedded broker port (0: any)")
    p.add_argument(
        "--osmand-port",
        type=int,
        default=5055,
        help="the phones' OsmAnd port, served beside the API (0: any free port; -1: none)",
    )
    p.add_argument("--state-dir", type=Path, default=Path("var/demo"))
    p.add_argument("--keep", action="store_true", help="keep the state of the last run")
    p.add_argument("--batch-s", type=float, default=5.0, help="gateway batch interval (s)")
    p.add_argument(
        "--no-story", action="store_true", help="skip the traced story (dehong/story.py)"
    )
    p.add_argument(
        "--no-fleet",
        action="store_true",
        help="skip the fleet chapter (dehong/fleet_story.py): trucks, waybill, reefer failure",
    )
    p.add_argument(
        "--no-commerce",
        action="store_true",
        help="skip the e-commerce orders (dehong sim commerce: two months, then live)",
    )
    p.add_argument(
        "--evidence-every-s",
        type=float,
        default=600.0,
        help="how often the story recomputes the sensor evidence of its lots (s)",
    )
    p.set_defaults(handler=lambda args: run_demo(args))


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def _provision(settings: Any, db: Any) -> tuple[str, str, dict[str, str]]:
    from cloud.auth.principal import Role
    from cloud.auth.service import create_user, get_user
    from cloud.devices.storage import Gateway
    from cloud.provisioning import mosquitto
    from cloud.provisioning.service import (
        ensure_service_account,
        provision_gateway,
        sync_mosquitto,
    )
    from dehong.stack import DEMO_SITES

    ingest_pw = await ensure_service_account(db, "ingest", "ingest", reset=True, actor="demo")
    api_pw = await ensure_service_account(db, "api", "api", reset=True, actor="demo")
    passwords: dict[str, str] = {}
    for site in DEMO_SITES:
        async with db.transaction() as s:
            existing = await s.get(Gateway, site.gateway_id)
            if existing is not None:  # --keep: a new password for this run
                pw = mosquitto.new_password()
                existing.mqtt_password_hash = mosquitto.hash_password(pw)
                passwords[site.gateway_id] = pw
                continue
        _gw, pw = await provision_gateway(
            db, site.county, site.name, site.site, site.gateway_id, actor="demo"
        )
        passwords[site.gateway_id] = pw
    async with db.transaction() as s:
        for (user, pw), role, county in (
            (DEMO_ADMIN, Role.PREFECTURE_ADMIN, "533100"),
            (DEMO_COUNTY_ADMIN, Role.COUNTY_ADMIN, "533103"),
        ):
            if await get_user(s, user) is None:
                await create_user(
                    s, username=user, password=pw, role=role, county=county, actor="demo"
                )
    await sync_mosquitto(db, settings)
    assert ingest_pw is not None and api_pw is not None
    return ingest_pw, api_pw, passwords


def _prepare_state(state: Path, keep: bool) -> None:
    if state.exists() and not keep:
        shutil.rmtree(state)
    state.mkdir(parents=True, exist_ok=True)


def _quiet_libraries() -> None:
    """The demo's console is for people: keep the libraries' chatter out of it."""
    for name in ("amqtt", "transitions", "alembic", "pymodbus", "uvicorn.error", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)


async def run_demo(args: argparse.Namespace) -> int:
    _quiet_libraries()  # before the imports: alembic logs its plugins as it is imported
    from cloud.db import Database
    from cloud.db.migrate import upgrade_async
    from cloud.resolver.serials.keys import ensure_key as ensure_serials_key
    from cloud.settings import Settings
    from cloud.timeseries import open_store
    from cloud.trace.log.keys import ensure_key
    from dehong.stack import DEMO_SITES, MCU_NODES, CloudServices, gateway_config
    from edge.gateway import Gateway
    from protocol.broker import BrokerUrl
    from simulators.coldstore import DEFAULT_ROOMS, ColdStoreSimulator
    from simulators.mcu.bus import SerialNodeBus
    from simulators.mcu.node import SimNode
    from simulators.serialpair import SerialPair

    state: Path = args.state_dir
    await asyncio.to_thread(_prepare_state, state, args.keep)
    external_mqtt = os.environ.get("DEHONG_MQTT_URL", "")
    settings = Settings(
        database_url=os.environ.get("DEHONG_DATABASE_URL", f"sqlite:///{state / 'dehong.db'}"),
        influx_url=os.environ.get("DEHONG_INFLUX_URL", ""),
        tsdb_path=state / "timeseries.db",
        mosquitto_dir=state / "mosquitto",
        keys_dir=state / "keys",
        filestore_dir=state / "files",  # the camera inspections' thumbnails
        # the embedded broker rereads its files when they change; an external one is
        # reloaded as configured (DEHONG_MOSQUITTO_RELOAD, DEHONG_MOSQUITTO_PID_FILE)
        **({} if external_mqtt else {"mosquitto_reload": "watch"}),
        demo=True,
        api_host=args.host,
        api_port=args.port,
        # the QR codes and labels point at the demo's own API (a scan opens its page)
        public_base_url=os.environ.get(
            "DEHONG_PUBLIC_BASE_URL",
            f"http://{args.host}:{args.port}" if args.port else "http://127.0.0.1",
        ),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    await upgrade_async(settings.database_url)
    ensure_key(settings)  # the trace log's signing key, as `dehong cloud init-db` makes it
    ensure_serials_key(settings)  # the serials' code key, likewise
    db = Database(settings.database_url)
    tsdb = open_store(settings.influx_url, database=settings.influx_db, path=settings.tsdb_path)
    await tsdb.open()
    ingest_pw, api_pw, passwords = await _provision(settings, db)

    broker_obj = None
    if external_mqtt:
        ext = BrokerUrl.parse(external_mqtt)
        host, mqtt_port = ext.host, ext.port
        log.info("using the broker at %s; it must load %s", ext.redacted(), settings.mosquitto_dir)
    else:
        from dehong.embedded_broker import start_broker

        host = args.host
        mqtt_port = args.mqtt_port or _free_port(host)
        broker_obj = await start_broker(host, mqtt_port, settings.mosquitto_dir)

    # the API sends gateway commands (set-config: the rooms' commodity profiles) as the
    # broker's ``api`` account, to this broker
    settings = settings.model_copy(
        update={"mqtt_url": f"mqtt://api:{quote(api_pw, safe='')}@{host}:{mqtt_port}"}
    )
    sims: list[ColdStoreSimulator] = []
    #: each gateway's RS-485 line (a pty pair) with its MCU nodes (dehong.stack.MCU_NODES)
    lines = contextlib.AsyncExitStack()
    gateways: list[Gateway] = []
    gw_tasks: list[asyncio.Task[None]] = []
    story_task: asyncio.Task[None] | None = None
    fleet_task: asyncio.Task[Any] | None = None
    commerce_task: asyncio.Task[Any] | None = None
    cloud = CloudServices(
        settings,
        db,
        tsdb,
        BrokerUrl(host, mqtt_port, "ingest", ingest_pw),
        api_host=args.host,
        api_port=args.port,
        osmand_port=None if getattr(args, "osmand_port", -1) < 0 else args.osmand_port,
    )
    try:
        await cloud.start()
        # seeded before the gateways start: sealing the households' and trainees' personal
        # data is CPU work on this loop, which would delay the gateways' MCU polls
        services = await _public_services(settings, db)
        for i, site in enumerate(DEMO_SITES):
            rooms = [replace(DEFAULT_ROOMS[r], name=f"room-{k}") for k, r in enumerate(site.rooms)]
            sim = ColdStoreSimulator(rooms, seed=100 + i)
            await sim.start("127.0.0.1", 0)
            sims.append(sim)
            line = await lines.enter_async_context(SerialPair())
            nodes = [SimNode(n, kind, seed=100 + i) for _, n, kind in MCU_NODES]
            await lines.enter_async_context(SerialNodeBus(line.a, nodes))
            cfg = gateway_config(
                gateway_id=site.gateway_id,
                county=site.county,
                site=site.site,
                broker=BrokerUrl(host, mqtt_port),
                password=passwords[site.gateway_id],
                modbus_port=sim.port,
                rooms=len(rooms),
                state_dir=state / "edge" / site.gateway_id,
                batch_s=args.batch_s,
                mcu_serial=line.b,
            )
            gw = Gateway(cfg)
            gateways.append(gw)
            gw_tasks.append(asyncio.create_task(gw.run(), name=f"gateway-{site.gateway_id}"))
        story = None
        if not args.no_story:
            from cloud.devices.commands import MqttPublisher
            from dehong import story as story_mod

            story = await story_mod.run_story(
                settings, db, tsdb, state, publish=MqttPublisher(settings.mqtt_broker())
            )
            story_task = asyncio.create_task(
                story_mod.evidence_loop(
                    db,
                    tsdb,
                    story,
                    every_s=args.evidence_every_s,
                    settle_s=args.batch_s + 3.0,
                    report=_evidence_report,
                ),
                name="story-evidence",
            )
        fleet = None
        if not args.no_fleet:
            from dehong import fleet_story

            fleet, fleet_task = await fleet_story.run_chapter(
                settings,
                db,
                state,
                api_url=cloud.api_url,
                mqtt=BrokerUrl(host, mqtt_port),
                with_story=story is not None,
            )
        wall_key, commerce_task = await _wall(db, with_orders=not args.no_commerce)
        _banner(cloud.api_url, host, mqtt_port, external_mqtt, state, story, fleet, wall_key,
                cloud.osmand_port, services)  # fmt: skip
        if args.duration is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration)
        else:
            await stop.wait()
        log.info("stopping")
    finally:
        if commerce_task is not None:
            commerce_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await commerce_task
        if fleet_task is not None:
            fleet_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fleet_task
        if story_task is not None:
            story_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await story_task
        for gw in gateways:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(gw.stop(), 10)
        for t in gw_tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await cloud.stop()
        for sim in sims:
            await sim.stop()
        await lines.aclose()
        if broker_obj is not None:
            await broker_obj.shutdown()
        await tsdb.close()
        await db.dispose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


async def _wall(db: Any, *, with_orders: bool) -> tuple[str, asyncio.Task[Any] | None]:
    """The wall screen's chapter: a display key of the prefecture for /screen (issued as
    a prefecture admin would, for this run), and the e-commerce orders that move it:
    two months of `sim commerce`, then today's orders as their times pass."""
    from cloud.auth.policy import Role
    from cloud.auth.service import create_api_key

    async with db.transaction() as s:
        key = await create_api_key(
            s, name="demo wall", role=Role.DISPLAY, county="533100", actor="demo"
        )
    if not with_orders:
        return key.key, None
    from cloud.commerce.sim import live, simulate

    got = await simulate(db, months=2, per_day=150)
    log.info("sim commerce: %s", got)
    task = asyncio.create_task(live(db, per_day=150, interval_s=10.0), name="sim-commerce")
    return key.key, task


async def _public_services(settings: Any, db: Any) -> dict[str, Any]:
    """Issue 15's chapter: service stations on the map, households linked (sealed),
    a training session with check-ins and certificates, the showcase and policies, and
    supervision with a published monthly report on the disclosure page. Each package's
    ``seed_demo`` adds its records once (a kept state directory is not seeded twice)."""
    from cloud.inspections.files import files_for
    from cloud.pii import keyring_for
    from cloud.services.registry.demo import seed_demo as seed_registry
    from cloud.services.stations.seed import seed_demo as seed_stations
    from cloud.services.training.demo import seed_demo as seed_training
    from cloud.supervision.seed import seed_demo as seed_supervision

    ring = keyring_for(
        settings.pii_keys.get_secret_value(), settings.pii_key_file, demo=settings.demo
    )
    async with db.transaction() as s:
        stations = await seed_stations(s, keyring=ring)
        training = await seed_training(s, keyring=ring)
        await seed_registry(s, files_for(settings))
        await seed_supervision(s)
    log.info("public services: stations %s, training %s", stations, training)
    return {"training_session": training.get("session")}


def _evidence_report(done: Any) -> None:
    lots = ", ".join(
        f"{lot}: {'granted' if ok else 'not granted'} ({done.reasons[lot]})"
        for lot, ok in done.granted.items()
    )
    print(
        f"story: sensor evidence {done.stored} new, {done.unchanged} unchanged; 德宏品牌 {lots}",
        flush=True,
    )


def _banner(
    api: str,
    host: str,
    mqtt_port: int,
    external: str,
    state: Path,
    story: Any = None,
    fleet: Any = None,
    wall_key: str | None = None,
    osmand_port: int | None = None,
    services: dict[str, Any] | None = None,
) -> None:
    from dehong.stack import DEMO_SITES

    lines = [
        "",
        "德宏农村电商溯源平台 演示 / Dehong traceability platform demo",
        f"  API            {api}   (OpenAPI: {api}/docs)",
        f"  MQTT broker    {external or f'mqtt://{host}:{mqtt_port} (embedded, per-gateway ACL)'}",
        *(
            [f"  OsmAnd port    http://{host}:{osmand_port}/  (phones: Traccar Client, OsmAnd)"]
            if osmand_port
            else []
        ),
        f"  state          {state}",
        f"  demo login     {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}  (prefecture admin; DEMO DEFAULT)",
        f"                 {DEMO_COUNTY_ADMIN[0]} / {DEMO_COUNTY_ADMIN[1]}  (county admin 533103; DEMO DEFAULT)",
        "  gateways       " + ", ".join(f"{s.gateway_id} ({s.county})" for s in DEMO_SITES),
        f"  wall screen    {api}/screen#key={wall_key}   (大屏, 1920x1080; display key of this run)"
        if wall_key
        else f"  wall screen    {api}/screen   (大屏: log in)",
        f"                 {api}/screen/533103 (one county)",
        *(
            [
                f"  public site    {api}/h5/   (公共服务 H5: stations map, showcase, policies, "
                "training, trace lookup; phone)",
                f"                 {api}/h5/stations   {api}/h5/training",
                f"  disclosure     {api}/disclosure   (信息公开: plan, funds, monthly reports)",
            ]
            if services is not None
            else []
        ),
        "  try:",
        f"    TOKEN=$(curl -s -d 'username={DEMO_ADMIN[0]}&password={DEMO_ADMIN[1]}' {api}/api/v1/auth/token"
        " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
        f'    curl -s -H "Authorization: Bearer $TOKEN" {api}/api/v1/gateways',
        f'    curl -s -H "Authorization: Bearer $TOKEN" {api}/api/v1/devices/mangshi-coop-01.room-0/latest',
    ]
    if story is not None:
        from dehong.story import banner_lines

        lines += banner_lines(api, story)
    if fleet is not None:
        from dehong import fleet_story

        lines += fleet_story.banner_lines(api, fleet)
    lines += ["  Ctrl-C stops.", ""]
    print("\n".join(lines), flush=True)
    sys.stdout.flush()
