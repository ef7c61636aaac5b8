"""Firmware images and rollouts (cloud/devices/firmware), end to end: the API verifies
uploads, a gateway agent (firmware_bridge/ota/agent.py) downloads over HTTP, verifies
again and updates nodes on the pty simulator; the rollout goes canary -> percentage ->
all, and stops by itself when the canary rolls back."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.auth.principal import Role
from cloud.db import utcnow
from firmware_bridge.ota.agent import FirmwareClient, run_assignments
from firmware_bridge.ota.events import EventLog
from firmware_bridge.signing import generate_keypair
from simulators.mcu.bootloader import NodeModel
from tests.cloud.firmware_cases import HW, signed_files, trust, upload
from tests.firmware_bridge.ota_support import FAST, pty_link
from tests.support.api import HOME, OTHER, ApiEnv, api_env

API = "/api/v1/firmware"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env(request.param, tmp_path) as e:
        yield e


def _node(public: bytes, **kw: object) -> NodeModel:
    return NodeModel(hardware_id=HW, public_keys=[public], image=b"\x00" * 2048,
                     version="1.0.0", **kw)  # type: ignore[arg-type]  # fmt: skip


async def test_upload_is_verified_and_refusals_name_the_part(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await upload(env, h, HOME, "1.1.0", min_bootloader="2.0.0")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["version"], body["target"], body["min_bootloader"]) == ("1.1.0", HW, "2.0.0")
    again = await upload(env, h, HOME, "1.1.0")
    assert again.status_code == 409
    # a key the API does not trust
    stranger, _ = generate_keypair()
    files = signed_files(stranger, b"\x01" * 500, "1.2.0")
    r = await env.client.post(f"{API}/images", data={"county": HOME}, files=files, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "body.signature", r.text
    # image bytes that are not the signed ones
    files = signed_files(trust(env), b"\x01" * 500, "1.2.0")
    files["image"] = ("app.bin", b"\x02" * 500, "application/octet-stream")
    r = await env.client.post(f"{API}/images", data={"county": HOME}, files=files, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "body.image", r.text
    # not a manifest at all
    files = signed_files(trust(env), b"\x01" * 500, "1.2.0")
    files["manifest"] = ("manifest.json", b"{nope", "application/json")
    r = await env.client.post(f"{API}/images", data={"county": HOME}, files=files, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "body.manifest", r.text
    # the bytes come back as stored
    r = await env.client.get(body["download"], headers=h)
    assert r.status_code == 200 and r.headers["x-firmware-sha256"] == body["sha256"]


async def test_no_trusted_keys_means_no_upload(env: ApiEnv, tmp_path: Path) -> None:
    env.settings.firmware_keys = tmp_path / "empty"
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    private, _ = generate_keypair()
    files = signed_files(private, b"\x01" * 500, "1.2.0")
    r = await env.client.post(f"{API}/images", data={"county": HOME}, files=files, headers=h)
    assert r.status_code == 503 and "no trusted firmware keys" in r.text


@contextlib.asynccontextmanager
async def _gateway(env: ApiEnv, models: dict[int, NodeModel]) -> AsyncIterator[FirmwareClient]:
    """The gateway gw-m1's agent: its API key, its trusted key, one pty per node."""
    from firmware_bridge.signing import public_key_of

    h = await env.headers(Role.GATEWAY, HOME)  # gw-m1 as itself: id and broker password
    env.client.headers.update(h)
    client = FirmwareClient(env.client, [public_key_of(trust(env))])
    async with contextlib.AsyncExitStack() as stack:
        links = {n: await stack.enter_async_context(pty_link(m)) for n, m in models.items()}
        client.links = links  # type: ignore[attr-defined]
        yield client
    for k in h:
        env.client.headers.pop(k, None)


async def test_rollout_canary_then_percentage_then_all(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    private = trust(env)
    from firmware_bridge.signing import public_key_of

    image = bytes(range(256)) * 64  # 16 KB
    r = await upload(env, h, HOME, "1.4.0", image=image)
    assert r.status_code == 201, r.text
    image_id = r.json()["id"]
    nodes = [{"gateway_id": "gw-m1", "node_id": n} for n in (1, 2, 3, 4)]
    r = await env.client.post(f"{API}/rollouts", headers=h,
                              json={"image_id": image_id, "nodes": nodes, "percentage": 50})  # fmt: skip
    assert r.status_code == 201, r.text
    rollout = r.json()
    assert [n["stage"] for n in rollout["nodes"]] == ["canary", "percentage", "all", "all"]
    assert [n["released"] for n in rollout["nodes"]] == [True, False, False, False]

    models = {n: _node(public_key_of(private)) for n in (1, 2, 3, 4)}
    events = EventLog()
    async with _gateway(env, models) as client:
        stages = []
        for _ in range(3):
            results = await run_assignments(client, "gw-m1", client.links, config=FAST,  # type: ignore[attr-defined]
                                            events=events)  # fmt: skip
            stages.append(sorted(r.node for r in results))
            state = (await env.client.get(f"{API}/rollouts/{rollout['id']}", headers=h)).json()
        assert stages == [[1], [2], [3, 4]]
    assert state["status"] == "completed", state
    assert state["counts"] == {"confirmed": 4} and state["failure_rate"] == 0
    assert all(n["state"] == "confirmed" for n in state["nodes"])
    assert all(str(m.flash.versions[m.flash.active]) == "1.4.0" for m in models.values())
    # states went through offered, transferring, trial-booted, confirmed for each node
    main = [k for k in events.kinds(3) if k not in ("resumed", "retry")]
    assert main == ["offered", "transferring", "committed", "trial-booted", "confirmed"]
    # the other county sees none of it
    other = await env.headers(Role.COUNTY_ADMIN, OTHER)
    assert (
        await env.client.get(f"{API}/rollouts/{rollout['id']}", headers=other)
    ).status_code == 404


async def test_canary_rollback_stops_the_rollout(env: ApiEnv) -> None:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    private = trust(env)
    from firmware_bridge.signing import public_key_of

    r = await upload(env, h, HOME, "1.5.0", image=b"\x33" * 8000)
    nodes = [{"gateway_id": "gw-m1", "node_id": n} for n in (1, 2, 3)]
    r = await env.client.post(f"{API}/rollouts", headers=h,
                              json={"image_id": r.json()["id"], "nodes": nodes})  # fmt: skip
    rollout = r.json()
    models = {n: _node(public_key_of(private), trial_boots=2) for n in (1, 2, 3)}
    models[1].fail_trial_boots = -1  # the canary's new image never comes up
    async with _gateway(env, models) as client:
        results = await run_assignments(client, "gw-m1", client.links, config=FAST)  # type: ignore[attr-defined]
        assert [r.outcome for r in results] == ["rolled-back"]
        assert await run_assignments(client, "gw-m1", client.links, config=FAST) == []  # type: ignore[attr-defined]
    state = (await env.client.get(f"{API}/rollouts/{rollout['id']}", headers=h)).json()
    assert state["status"] == "stopped"
    assert "failure rate 1/1" in state["stop_reason"]
    assert [n["state"] for n in state["nodes"]] == ["rolled-back", "pending", "pending"]
    assert "1.0.0" in state["nodes"][0]["detail"]
    assert str(models[1].flash.versions[models[1].flash.active]) == "1.0.0"
    # a report can not move a finished node, nor one that was never released
    r = await env.client.post(f"{API}/rollouts/{rollout['id']}/nodes/gw-m1/1", headers=h,
                              json={"state": "confirmed"})  # fmt: skip
    assert r.status_code == 409
    r = await env.client.post(f"{API}/rollouts/{rollout['id']}/nodes/gw-m1/2", headers=h,
                              json={"state": "offered"})  # fmt: skip
    assert r.status_code == 409
    r = await env.client.post(f"{API}/rollouts/{rollout['id']}/nodes/gw-m1/2", headers=h,
                              json={"state": "installed"})  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "body.state"


async def test_gateway_refuses_an_image_its_keys_do_not_verify(env: ApiEnv) -> None:
    """The API trusts the key, the gateway does not: nothing reaches the node."""
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    trust(env)
    r = await upload(env, h, HOME, "1.6.0")
    r = await env.client.post(f"{API}/rollouts", headers=h, json={
        "image_id": r.json()["id"], "nodes": [{"gateway_id": "gw-m1", "node_id": 1}]})  # fmt: skip
    _, other_public = generate_keypair()
    model = _node(other_public)
    env.client.headers.update(await env.headers(Role.GATEWAY, HOME))
    client = FirmwareClient(env.client, [other_public])
    async with pty_link(model) as link:
        results = await run_assignments(client, "gw-m1", {1: link}, config=FAST)
    assert results == []
    state = (await env.client.get(f"{API}/rollouts/{r.json()['id']}", headers=h)).json()
    assert state["nodes"][0]["state"] == "refused" and state["status"] == "stopped"
    assert model.flash.log == []  # the node never heard of it


@pytest.fixture
async def sqlite_env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        yield e


async def test_a_gateway_acts_only_for_itself(sqlite_env: ApiEnv) -> None:
    """Failed before the fix: a gateway needed an admin's key (firmware:write) to report,
    and that key could report any gateway's node of the county."""
    from cloud.devices.storage import Gateway

    env = sqlite_env
    admin = await env.headers(Role.COUNTY_ADMIN, HOME)
    async with env.db.transaction() as s:
        s.add(Gateway(id="gw-m2", county=HOME, name="m2", site="s2", mqtt_password_hash="x"))
    r = await upload(env, admin, HOME, "1.7.0")
    image = r.json()["id"]
    r = await env.client.post(f"{API}/rollouts", headers=admin, json={"image_id": image, "nodes": [
        {"gateway_id": "gw-m2", "node_id": 1}, {"gateway_id": "gw-m1", "node_id": 1}]})  # fmt: skip
    rollout = r.json()["id"]
    gw1 = await env.headers(Role.GATEWAY, HOME)
    # another gateway's node (the canary is gw-m2's): refused
    r = await env.client.post(f"{API}/rollouts/{rollout}/nodes/gw-m2/1", headers=gw1,
                              json={"state": "offered"})  # fmt: skip
    assert r.status_code == 403 and "gw-m1 acts only for itself" in r.text, r.text
    r = await env.client.get(f"{API}/gateways/gw-m2/assignments", headers=gw1)
    assert r.status_code == 403, r.text
    r = await env.client.get(f"{API}/gateways/gw-m1/assignments", headers=gw1)
    assert r.status_code == 200 and r.json() == []  # its node is not released yet
    # gw-m2 itself may, and reads its image; gw-m1 reads the image of a rollout naming it
    gw2 = await env.gateway_headers("gw-m2")
    r = await env.client.get(f"{API}/gateways/gw-m2/assignments", headers=gw2)
    assert [a["node_id"] for a in r.json()] == [1], r.text
    r = await env.client.post(f"{API}/rollouts/{rollout}/nodes/gw-m2/1", headers=gw2,
                              json={"state": "offered"})  # fmt: skip
    assert r.status_code == 200 and r.json()["nodes"][0]["state"] == "offered", r.text
    assert (await env.client.get(f"{API}/images/{image}/image", headers=gw1)).status_code == 200
    # an image of no rollout naming the gateway is not found; no upload, rollout, stop, list
    other = (await upload(env, admin, HOME, "1.7.1")).json()["id"]
    assert (await env.client.get(f"{API}/images/{other}/image", headers=gw1)).status_code == 404
    r = await upload(env, gw1, HOME, "1.7.2")
    assert r.status_code == 403 and "firmware:write" in r.text
    r = await env.client.post(f"{API}/rollouts", headers=gw1, json={
        "image_id": other, "nodes": [{"gateway_id": "gw-m1", "node_id": 1}]})  # fmt: skip
    assert r.status_code == 403
    assert (await env.client.post(f"{API}/rollouts/{rollout}/stop", headers=gw1)).status_code == 403
    assert (await env.client.get(f"{API}/rollouts", headers=gw1)).status_code == 403
    assert (await env.client.get("/api/v1/gateways", headers=gw1)).status_code == 403
    # a wrong password, an unknown gateway, a revoked one: 401
    bad = {"Authorization": "Basic " + base64.b64encode(b"gw-m1:guess").decode()}
    assert (
        await env.client.get(f"{API}/gateways/gw-m1/assignments", headers=bad)
    ).status_code == 401
    async with env.db.transaction() as s:
        (await s.get(Gateway, "gw-m2")).revoked_at = utcnow()  # type: ignore[union-attr]
    r = await env.client.get(f"{API}/gateways/gw-m2/assignments", headers=gw2)
    assert r.status_code == 401 and "revoked" in r.text


async def test_migration_0900_makes_the_tables_the_models_declare() -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from cloud.db.models import Base
    from tests.support.schema import sqlite_template

    engine = create_engine(f"sqlite:///{await sqlite_template()}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diff if "firmware_" in repr(d)] == []


async def test_an_image_id_out_of_range_is_422_not_a_server_error(sqlite_env: ApiEnv) -> None:
    """Failed before the fix (schemathesis): SQLite overflowed on image_id 2**63."""
    h = await sqlite_env.headers(Role.COUNTY_ADMIN, HOME)
    r = await sqlite_env.client.post(f"{API}/rollouts", headers=h, json={
        "image_id": 2**63, "nodes": [{"gateway_id": "gw-m1", "node_id": 1}]})  # fmt: skip
    assert r.status_code == 422 and "image_id" in r.text, r.text
