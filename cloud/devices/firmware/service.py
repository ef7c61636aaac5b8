"""Firmware images and rollouts: verification on upload, staging, automatic stop."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import utcnow
from cloud.devices.firmware.schemas import STAGES, ImageOut, NodeStateOut, RolloutOut
from cloud.devices.firmware.storage import FirmwareImage, FirmwareRollout, FirmwareRolloutNode
from cloud.errors import ApiError
from cloud.settings import Settings
from firmware_bridge.signing import (
    ImageRejected,
    Manifest,
    load_public_keys,
    verify_image,
    verify_manifest,
)

API = "/api/v1/firmware"
ACTIVE = frozenset({"pending", "offered", "transferring", "trial-booted"})
FAILED = frozenset({"rolled-back", "refused", "failed"})
TERMINAL = FAILED | {"confirmed"}
#: the order a node's state may move in (a report never goes back)
ORDER = {"pending": 0, "offered": 1, "transferring": 2, "trial-booted": 3}


def trusted_keys(settings: Settings) -> list[bytes]:
    where: Path = settings.firmware_keys or settings.keys_dir / "firmware"
    if not where.exists():
        return []
    return load_public_keys(where)


def verify_upload(settings: Settings, image: bytes, manifest: bytes, signature: bytes) -> Manifest:
    """The upload's manifest verifies under a trusted key and names these very bytes."""
    keys = trusted_keys(settings)
    if not keys:
        raise ApiError(
            503, "no trusted firmware keys are configured (DEHONG_FIRMWARE_KEYS); refusing"
        )
    try:
        claimed = Manifest.from_bytes(manifest)
    except ValueError as exc:
        raise ApiError(422, f"manifest: {exc}", field="body.manifest") from None
    try:
        m = verify_manifest(
            manifest, signature, keys, expected_target=claimed.target, installed_version=None
        )
    except ImageRejected as exc:
        raise ApiError(422, str(exc), field="body.signature") from None
    try:
        verify_image(m, image)
    except ImageRejected as exc:
        raise ApiError(422, str(exc), field="body.image") from None
    return m


def image_out(img: FirmwareImage) -> ImageOut:
    m = Manifest.from_bytes(img.manifest)
    return ImageOut(
        id=img.id, county=img.county, kind=img.kind, target=img.target, version=img.version,
        size=img.size, sha256=img.sha256, min_bootloader=m.min_bootloader,
        allow_downgrade=m.allow_downgrade, uploaded_by=img.uploaded_by,
        created_at=img.created_at, manifest=img.manifest.decode(),
        signature=img.signature.hex(), download=f"{API}/images/{img.id}/image",
    )  # fmt: skip


def plan_stages(n: int, percentage: int) -> list[int]:
    """Stage of each node: the first is the canary (0); up to ``percentage`` % of all
    nodes (canary included) are stage 1; the rest stage 2."""
    upto = max(1, math.ceil(n * percentage / 100))
    return [0 if i == 0 else 1 if i < upto else 2 for i in range(n)]


async def nodes_of(session: AsyncSession, rollout_id: int) -> Sequence[FirmwareRolloutNode]:
    q = select(FirmwareRolloutNode).where(FirmwareRolloutNode.rollout_id == rollout_id)
    return (await session.scalars(q.order_by(FirmwareRolloutNode.id))).all()


async def nodes_by_rollout(
    session: AsyncSession, rollout_ids: Sequence[int]
) -> dict[int, list[FirmwareRolloutNode]]:
    """:func:`nodes_of` for a page of rollouts in one query."""
    out: dict[int, list[FirmwareRolloutNode]] = {i: [] for i in rollout_ids}
    q = select(FirmwareRolloutNode).where(FirmwareRolloutNode.rollout_id.in_(list(rollout_ids)))
    for n in (await session.scalars(q.order_by(FirmwareRolloutNode.id))).all():
        out[n.rollout_id].append(n)
    return out


def failure_rate(nodes: Sequence[FirmwareRolloutNode]) -> float:
    released = [n for n in nodes if n.released]
    if not released:
        return 0.0
    return sum(n.state in FAILED for n in released) / len(released)


def evaluate(rollout: FirmwareRollout, nodes: Sequence[FirmwareRolloutNode]) -> str | None:
    """Stop, advance or complete a running rollout after a report; what happened."""
    if rollout.status != "running":
        return None
    released = [n for n in nodes if n.released]
    rate = failure_rate(nodes)
    if released and rate > rollout.failure_threshold:
        failed = sum(n.state in FAILED for n in released)
        rollout.status = "stopped"
        rollout.stop_reason = (
            f"failure rate {failed}/{len(released)} = {rate:.0%} passed the threshold "
            f"{rollout.failure_threshold:.0%} in stage {STAGES[rollout.stage]}"
        )
        return "stopped"
    if any(n.state not in TERMINAL for n in released):
        return None
    later = sorted({n.stage for n in nodes if not n.released})
    if not later:
        rollout.status = "completed"
        return "completed"
    rollout.stage = later[0]
    for n in nodes:
        if n.stage == rollout.stage:
            n.released = True
    return f"released stage {STAGES[rollout.stage]}"


def rollout_out(
    rollout: FirmwareRollout,
    image: FirmwareImage,
    nodes: Sequence[FirmwareRolloutNode],
    *,
    with_nodes: bool = True,
) -> RolloutOut:
    counts = Counter(n.state for n in nodes)
    return RolloutOut(
        id=rollout.id, county=rollout.county, image_id=rollout.image_id, target=image.target,
        version=image.version, status=rollout.status, stage=STAGES[rollout.stage],
        percentage=rollout.percentage, failure_threshold=rollout.failure_threshold,
        failure_rate=round(failure_rate(nodes), 4), stop_reason=rollout.stop_reason,
        counts=dict(sorted(counts.items())), created_by=rollout.created_by,
        created_at=rollout.created_at, updated_at=rollout.updated_at,
        nodes=[
            NodeStateOut(
                gateway_id=n.gateway_id, node_id=n.node_id, stage=STAGES[n.stage],
                released=n.released, state=n.state, detail=n.detail, updated_at=n.updated_at,
            )
            for n in nodes
        ] if with_nodes else None,
    )  # fmt: skip


def check_transition(node: FirmwareRolloutNode, state: str) -> None:
    if not node.released:
        raise ApiError(409, f"node {node.gateway_id}/{node.node_id} is not released yet")
    if node.state in TERMINAL and state != node.state:
        raise ApiError(
            409,
            f"node {node.gateway_id}/{node.node_id} is already {node.state}",
            field="body.state",
        )
    if state in ORDER and ORDER[state] < ORDER.get(node.state, 99):
        return  # a late, out-of-order report: kept as it was, not an error
    node.state = state
    node.updated_at = utcnow()
