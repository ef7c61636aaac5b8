"""Records and cases of the firmware API (cloud/devices/firmware): a signed image and a
rollout per county, ``FIRMWARE_CASES`` (tests/cloud/test_api_isolation.py) and
``FIRMWARE_REQUESTS`` (tests/cloud/test_api_roles.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy import select

from cloud.devices.firmware.storage import FirmwareImage, FirmwareRollout, FirmwareRolloutNode
from firmware_bridge.signing import (
    generate_keypair,
    manifest_for_image,
    save_public_key,
    sign_manifest,
)
from tests.support.api import HOME, OTHER, ApiEnv

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
HW = "esp32c3-door-v2"
GATEWAY = {HOME: "gw-m1", OTHER: "gw-l1"}
_KEYS: dict[str, bytes] = {}


def trust(env: ApiEnv) -> bytes:
    """A release key the API under test trusts; its private half (made once per run)."""
    if "private" not in _KEYS:
        _KEYS["private"], _KEYS["public"] = generate_keypair()
    if env.settings.firmware_keys is None:  # the test's own directory, never var/keys
        env.settings.firmware_keys = Path(env.settings.filestore_dir).parent / "firmware-keys"
    keys_dir = env.settings.firmware_keys
    if not (keys_dir / "release.pub").exists():
        keys_dir.mkdir(parents=True, exist_ok=True)
        save_public_key(keys_dir / "release.pub", _KEYS["public"])
    return _KEYS["private"]


def signed_files(
    private: bytes, image: bytes, version: str, target: str = HW, **kw: object
) -> dict[str, tuple[str, bytes, str]]:
    m = manifest_for_image(image, target=target, version=version, **kw)  # type: ignore[arg-type]
    return {
        "image": ("app.bin", image, "application/octet-stream"),
        "manifest": ("manifest.json", m.to_bytes(), "application/json"),
        "signature": ("manifest.sig", sign_manifest(private, m), "application/octet-stream"),
    }


async def upload(
    env: ApiEnv, h: Headers, county: str, version: str, image: bytes = b"\x7f" * 3000, **kw: object
) -> httpx.Response:
    files = signed_files(trust(env), image, version, **kw)
    return await env.client.post(
        "/api/v1/firmware/images", data={"county": county}, files=files, headers=h
    )


async def seed_county(env: ApiEnv, county: str) -> dict[str, int]:
    """An image and a running rollout (one node of the county's gateway), once per db."""
    trust(env)
    async with env.db.transaction() as s:
        img = await s.scalar(select(FirmwareImage).where(FirmwareImage.county == county))
        if img is not None:
            r = await s.scalar(select(FirmwareRollout).where(FirmwareRollout.image_id == img.id))
            assert r is not None
            return {"image": img.id, "rollout": r.id}
    m = manifest_for_image(b"\x01" * 100, target=HW, version="1.0.0")
    async with env.db.transaction() as s:
        img = FirmwareImage(
            county=county, kind=m.kind, target=m.target, version=m.version, size=m.size,
            sha256=m.sha256, manifest=m.to_bytes(), signature=sign_manifest(_KEYS["private"], m),
            data=b"\x01" * 100, uploaded_by="test",
        )  # fmt: skip
        s.add(img)
        await s.flush()
        r = FirmwareRollout(county=county, image_id=img.id, status="running", stage=0,
                            percentage=50, failure_threshold=0.2, created_by="test")  # fmt: skip
        s.add(r)
        await s.flush()
        s.add(FirmwareRolloutNode(rollout_id=r.id, gateway_id=GATEWAY[county], node_id=1,
                                  stage=0, released=True, state="pending"))  # fmt: skip
        return {"image": img.id, "rollout": r.id}


# ------------------------------------------------------------------- county isolation


async def _both(env: ApiEnv) -> tuple[dict[str, int], dict[str, int]]:
    return await seed_county(env, HOME), await seed_county(env, OTHER)


def _list(path: str) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        mine, theirs = await _both(env)
        key = "image" if "images" in path else "rollout"
        r = await env.client.get(path, headers=h)
        assert r.status_code == 200, r.text
        ids = {x["id"] for x in r.json()}
        assert mine[key] in ids and theirs[key] not in ids
        r = await env.client.get(path, params={"county": OTHER}, headers=h)
        assert r.status_code == 403

    return case


def _one(template: str, key: str) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        mine, theirs = await _both(env)
        r = await env.client.get(template.format(mine[key]), headers=h)
        assert r.status_code == 200, r.text
        r = await env.client.get(template.format(theirs[key]), headers=h)
        assert r.status_code == 404, r.text

    return case


async def upload_other(env: ApiEnv, h: Headers) -> None:
    r = await upload(env, h, OTHER, "9.9.1")
    assert r.status_code == 403, r.text


async def rollout_other(env: ApiEnv, h: Headers) -> None:
    _, theirs = await _both(env)
    r = await env.client.post("/api/v1/firmware/rollouts", headers=h, json={
        "image_id": theirs["image"], "nodes": [{"gateway_id": "gw-l1", "node_id": 2}]})  # fmt: skip
    assert r.status_code == 404, r.text
    mine, _ = await _both(env)
    r = await env.client.post("/api/v1/firmware/rollouts", headers=h, json={
        "image_id": mine["image"], "nodes": [{"gateway_id": "gw-l1", "node_id": 2}]})  # fmt: skip
    assert r.status_code == 404, r.text  # the other county's gateway is not found


async def stop_other(env: ApiEnv, h: Headers) -> None:
    _, theirs = await _both(env)
    r = await env.client.post(f"/api/v1/firmware/rollouts/{theirs['rollout']}/stop", headers=h)
    assert r.status_code == 404, r.text


async def report_other(env: ApiEnv, h: Headers) -> None:
    _, theirs = await _both(env)
    r = await env.client.post(
        f"/api/v1/firmware/rollouts/{theirs['rollout']}/nodes/gw-l1/1", headers=h,
        json={"state": "offered"},
    )  # fmt: skip
    assert r.status_code == 404, r.text


async def assignments_other(env: ApiEnv, h: Headers) -> None:
    await _both(env)
    r = await env.client.get("/api/v1/firmware/gateways/gw-m1/assignments", headers=h)
    assert r.status_code == 200 and r.json(), r.text
    r = await env.client.get("/api/v1/firmware/gateways/gw-l1/assignments", headers=h)
    assert r.status_code == 404, r.text


FIRMWARE_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/firmware/images"): _list("/api/v1/firmware/images"),
    ("GET", "/api/v1/firmware/images/{image_id}"): _one("/api/v1/firmware/images/{}", "image"),
    ("GET", "/api/v1/firmware/images/{image_id}/image"): _one(
        "/api/v1/firmware/images/{}/image", "image"
    ),
    ("POST", "/api/v1/firmware/images"): upload_other,
    ("GET", "/api/v1/firmware/rollouts"): _list("/api/v1/firmware/rollouts"),
    ("GET", "/api/v1/firmware/rollouts/{rollout_id}"): _one(
        "/api/v1/firmware/rollouts/{}", "rollout"
    ),
    ("POST", "/api/v1/firmware/rollouts"): rollout_other,
    ("POST", "/api/v1/firmware/rollouts/{rollout_id}/stop"): stop_other,
    ("POST", "/api/v1/firmware/rollouts/{rollout_id}/nodes/{gateway_id}/{node_id}"): report_other,
    ("GET", "/api/v1/firmware/gateways/{gateway_id}/assignments"): assignments_other,
}

# ---------------------------------------------------------------- roles x endpoints


async def _home(env: ApiEnv) -> dict[str, int]:
    return await seed_county(env, HOME)


async def _new_rollout(env: ApiEnv, h: Headers) -> tuple[int, httpx.Response]:
    mine = await _home(env)
    async with env.db.transaction() as s:
        r = FirmwareRollout(county=HOME, image_id=mine["image"], status="running", stage=0,
                            percentage=50, failure_threshold=0.2, created_by="test")  # fmt: skip
        s.add(r)
        await s.flush()
        s.add(FirmwareRolloutNode(rollout_id=r.id, gateway_id="gw-m1", node_id=1, stage=0,
                                  released=True, state="pending"))  # fmt: skip
        return r.id, httpx.Response(200)


async def _stop(env: ApiEnv, h: Headers) -> httpx.Response:
    rid, _ = await _new_rollout(env, h)
    return await env.client.post(f"/api/v1/firmware/rollouts/{rid}/stop", headers=h)


async def _report(env: ApiEnv, h: Headers) -> httpx.Response:
    rid, _ = await _new_rollout(env, h)
    return await env.client.post(f"/api/v1/firmware/rollouts/{rid}/nodes/gw-m1/1", headers=h,
                                 json={"state": "offered"})  # fmt: skip


async def _create(env: ApiEnv, h: Headers) -> httpx.Response:
    mine = await _home(env)
    return await env.client.post("/api/v1/firmware/rollouts", headers=h, json={
        "image_id": mine["image"], "nodes": [{"gateway_id": "gw-m1", "node_id": 5}]})  # fmt: skip


_uploads = iter(range(1, 10_000))


async def _upload(env: ApiEnv, h: Headers) -> httpx.Response:
    return await upload(env, h, HOME, f"3.0.{next(_uploads)}")


async def _get(env: ApiEnv, h: Headers, template: str, key: str) -> httpx.Response:
    mine = await _home(env)
    return await env.client.get(template.format(mine[key]), headers=h)


FIRMWARE_REQUESTS: dict[tuple[str, str], Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]] = {
    ("GET", "/api/v1/firmware/images"): lambda e, h: e.client.get(
        "/api/v1/firmware/images", headers=h
    ),
    ("GET", "/api/v1/firmware/images/{image_id}"): lambda e, h: _get(
        e, h, "/api/v1/firmware/images/{}", "image"
    ),
    ("GET", "/api/v1/firmware/images/{image_id}/image"): lambda e, h: _get(
        e, h, "/api/v1/firmware/images/{}/image", "image"
    ),
    ("POST", "/api/v1/firmware/images"): _upload,
    ("GET", "/api/v1/firmware/rollouts"): lambda e, h: e.client.get(
        "/api/v1/firmware/rollouts", headers=h
    ),
    ("GET", "/api/v1/firmware/rollouts/{rollout_id}"): lambda e, h: _get(
        e, h, "/api/v1/firmware/rollouts/{}", "rollout"
    ),
    ("POST", "/api/v1/firmware/rollouts"): _create,
    ("POST", "/api/v1/firmware/rollouts/{rollout_id}/stop"): _stop,
    ("POST", "/api/v1/firmware/rollouts/{rollout_id}/nodes/{gateway_id}/{node_id}"): _report,
    ("GET", "/api/v1/firmware/gateways/{gateway_id}/assignments"): lambda e, h: e.client.get(
        "/api/v1/firmware/gateways/gw-m1/assignments", headers=h
    ),
}
