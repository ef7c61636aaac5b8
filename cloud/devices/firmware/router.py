"""``/api/v1/firmware``: signed node images and staged rollouts (issue 16).

- ``POST /firmware/images`` (multipart: ``county``, ``image``, ``manifest``,
  ``signature``): stored only when the manifest verifies under a trusted key and
  names the image's size and SHA-256 (422 otherwise, naming the part);
- ``GET /firmware/images[/{id}[/image]]``: metadata with the signed manifest, and
  the bytes a gateway downloads (it verifies them again before offering them);
- ``POST /firmware/rollouts``: a canary node, then ``percentage`` % of the nodes,
  then all; ``GET /firmware/rollouts[/{id}]``: status, failure rate and each node's
  state; ``POST /firmware/rollouts/{id}/stop``;
- ``GET /firmware/gateways/{gateway_id}/assignments`` and
  ``POST /firmware/rollouts/{id}/nodes/{gateway_id}/{node_id}``: what a gateway is
  to install, and its reports of each node (offered, transferring, trial-booted,
  confirmed, rolled-back, refused, failed). A report that passes the failure
  threshold stops the rollout; one that completes a stage releases the next.

A gateway calls the last two (and downloads its images) as itself: HTTP Basic with its
id and broker password, role ``gateway`` (``firmware:report``): only its own
assignments, the images of rollouts that name it, and reports of its own nodes; it
uploads nothing and starts or stops no rollout (docs/roles.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Request, Response, UploadFile
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cloud.audit.service import record
from cloud.auth.deps import require
from cloud.auth.principal import Principal, Role
from cloud.db import utcnow
from cloud.deps import SessionDep, SettingsDep
from cloud.devices.firmware import service
from cloud.devices.firmware.schemas import (
    REPORTABLE,
    Assignment,
    ImageOut,
    NodeReport,
    RolloutCreate,
    RolloutOut,
)
from cloud.devices.firmware.storage import FirmwareImage, FirmwareRollout, FirmwareRolloutNode
from cloud.devices.storage import Gateway
from cloud.errors import ApiError, responses
from cloud.pagination import Key, PageDep, fetch_page, link_next
from protocol.ids import COUNTIES

router = APIRouter(prefix="/firmware", tags=["firmware"])

FirmwareRead = Annotated[Principal, require("firmware:read")]
FirmwareWrite = Annotated[Principal, require("firmware:write")]
#: people who read firmware, or a gateway (its own assignments and images only)
FirmwareFetch = Annotated[Principal, require("firmware:read", "firmware:report")]
#: people who write firmware, or a gateway (its own nodes' states only)
FirmwareReport = Annotated[Principal, require("firmware:write", "firmware:report")]
ImageId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a firmware image's id")]
RolloutId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a rollout's id")]
NodeId = Annotated[int, Path(ge=1, le=0xFFFE, description="the node's protocol address")]
IMAGE_KEYS = (Key(FirmwareImage.id, desc=True, kind=int),)
ROLLOUT_KEYS = (Key(FirmwareRollout.id, desc=True, kind=int),)


async def _image(session: SessionDep, principal: Principal, image_id: int) -> FirmwareImage:
    img = await session.get(FirmwareImage, image_id)
    if img is None:
        raise ApiError(404, f"firmware image {image_id} not found")
    principal.visible(img.county, "firmware image", str(image_id))
    return img


async def _rollout(session: SessionDep, principal: Principal, rollout_id: int) -> FirmwareRollout:
    r = await session.get(FirmwareRollout, rollout_id)
    if r is None:
        raise ApiError(404, f"rollout {rollout_id} not found")
    principal.visible(r.county, "rollout", str(rollout_id))
    return r


async def _read(upload: UploadFile, limit: int, name: str) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ApiError(422, f"{name}: larger than {limit} bytes", field=f"body.{name}")
    return data


# ------------------------------------------------------------------ images


@router.post(
    "/images",
    response_model=ImageOut,
    status_code=201,
    summary="Upload a signed image (refused unless a trusted key verifies its manifest)",
    responses=responses(401, 403, 409, 422, 503),
)
async def upload_image(
    principal: FirmwareWrite,
    session: SessionDep,
    settings: SettingsDep,
    county: Annotated[str, Form(min_length=6, max_length=6)],
    image: Annotated[UploadFile, File()],
    manifest: Annotated[UploadFile, File()],
    signature: Annotated[UploadFile, File()],
) -> ImageOut:
    if county not in COUNTIES:
        raise ApiError(422, f"unknown county code {county!r}", field="body.county")
    principal.require_write(county)
    data = await _read(image, settings.firmware_max_bytes, "image")
    manifest_bytes = await _read(manifest, 64 * 1024, "manifest")
    sig = await _read(signature, 1024, "signature")
    m = service.verify_upload(settings, data, manifest_bytes, sig)
    img = FirmwareImage(
        county=county, kind=m.kind, target=m.target, version=m.version, size=m.size,
        sha256=m.sha256, manifest=manifest_bytes, signature=sig, data=data,
        uploaded_by=principal.actor, created_at=utcnow(),
    )  # fmt: skip
    session.add(img)
    try:
        await session.flush()
    except IntegrityError:
        raise ApiError(
            409, f"{m.kind} {m.target} {m.version} is already stored in county {county}"
        ) from None
    await record(session, principal.actor, "firmware.image_uploaded", f"firmware:{img.id}",
                 county, {"target": m.target, "version": m.version, "sha256": m.sha256})  # fmt: skip
    await session.commit()
    return service.image_out(img)


@router.get(
    "/images",
    response_model=list[ImageOut],
    summary="Stored images, newest first (keyset pages: Link rel=next)",
    responses=responses(401, 403, 422),
)
async def list_images(
    principal: FirmwareRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: str | None = None,
) -> list[ImageOut]:
    q = select(FirmwareImage)
    counties = principal.counties(county)
    if counties is not None:
        q = q.where(FirmwareImage.county.in_(counties))
    found = await fetch_page(session, q, IMAGE_KEYS, page)
    link_next(request, response, found.next_cursor)
    return [service.image_out(i) for i in found.rows]


@router.get(
    "/images/{image_id}",
    response_model=ImageOut,
    summary="One image with its signed manifest",
    responses=responses(401, 403, 404),
)
async def get_image(image_id: ImageId, principal: FirmwareRead, session: SessionDep) -> ImageOut:
    return service.image_out(await _image(session, principal, image_id))


@router.get(
    "/images/{image_id}/image",
    summary="The image's bytes (verify them against the manifest before use)",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, **responses(401, 403, 404)},
)
async def download_image(
    image_id: ImageId, principal: FirmwareFetch, session: SessionDep
) -> Response:
    img = await _image(session, principal, image_id)
    if principal.role is Role.GATEWAY:  # only the images of rollouts that name it
        named = await session.scalar(
            select(FirmwareRolloutNode.id)
            .join(FirmwareRollout, FirmwareRollout.id == FirmwareRolloutNode.rollout_id)
            .where(
                FirmwareRollout.image_id == img.id,
                FirmwareRolloutNode.gateway_id == principal.name,
            )
            .limit(1)
        )
        if named is None:
            raise ApiError(404, f"firmware image {image_id} not found")
    return Response(
        img.data,
        media_type="application/octet-stream",
        headers={"X-Firmware-SHA256": img.sha256, "Cache-Control": "private, max-age=3600"},
    )


# ------------------------------------------------------------------ rollouts


@router.post(
    "/rollouts",
    response_model=RolloutOut,
    status_code=201,
    summary="Start a rollout: the canary node first, then a percentage, then all",
    responses=responses(401, 403, 404, 409, 422),
)
async def create_rollout(
    body: RolloutCreate, principal: FirmwareWrite, session: SessionDep, settings: SettingsDep
) -> RolloutOut:
    img = await _image(session, principal, body.image_id)
    principal.require_write(img.county)
    if img.kind != "node-image":
        raise ApiError(422, f"image {img.id} is a {img.kind}, not a node image",
                       field="body.image_id")  # fmt: skip
    seen = set()
    for i, ref in enumerate(body.nodes):
        if (ref.gateway_id, ref.node_id) in seen:
            raise ApiError(422, f"node {ref.gateway_id}/{ref.node_id} is listed twice",
                           field=f"body.nodes[{i}]")  # fmt: skip
        seen.add((ref.gateway_id, ref.node_id))
    gateways = {ref.gateway_id for ref in body.nodes}
    found = {
        g.id: g.county
        for g in (await session.scalars(select(Gateway).where(Gateway.id.in_(gateways)))).all()
    }
    for i, ref in enumerate(body.nodes):
        if found.get(ref.gateway_id) != img.county:
            raise ApiError(
                404, f"gateway {ref.gateway_id!r} not found in county {img.county}",
                field=f"body.nodes[{i}].gateway_id",
            )  # fmt: skip
    now = utcnow()
    threshold = (
        body.failure_threshold
        if body.failure_threshold is not None
        else settings.firmware_failure_threshold
    )
    rollout = FirmwareRollout(
        county=img.county, image_id=img.id, status="running", stage=0,
        percentage=body.percentage, failure_threshold=threshold, created_by=principal.actor,
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(rollout)
    await session.flush()
    stages = service.plan_stages(len(body.nodes), body.percentage)
    nodes = [
        FirmwareRolloutNode(
            rollout_id=rollout.id,
            gateway_id=ref.gateway_id,
            node_id=ref.node_id,
            stage=stage,
            released=stage == 0,
            state="pending",
            updated_at=now,
        )
        for ref, stage in zip(body.nodes, stages, strict=True)
    ]
    session.add_all(nodes)
    await record(session, principal.actor, "firmware.rollout_started", f"rollout:{rollout.id}",
                 img.county, {"image": img.id, "version": img.version, "nodes": len(nodes)})  # fmt: skip
    await session.commit()
    return service.rollout_out(rollout, img, nodes)


@router.get(
    "/rollouts",
    response_model=list[RolloutOut],
    summary="Rollouts, newest first, with counts of node states (keyset pages)",
    responses=responses(401, 403, 422),
)
async def list_rollouts(
    principal: FirmwareRead,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDep,
    county: str | None = None,
) -> list[RolloutOut]:
    q = select(FirmwareRollout)
    counties = principal.counties(county)
    if counties is not None:
        q = q.where(FirmwareRollout.county.in_(counties))
    found = await fetch_page(session, q, ROLLOUT_KEYS, page)
    link_next(request, response, found.next_cursor)
    # the page's images and nodes in two queries, not two per rollout
    wanted = {r.image_id for r in found.rows}
    q_images = select(FirmwareImage).where(FirmwareImage.id.in_(wanted))
    images = {i.id: i for i in await session.scalars(q_images)}
    nodes = await service.nodes_by_rollout(session, [r.id for r in found.rows])
    return [
        service.rollout_out(r, images[r.image_id], nodes[r.id], with_nodes=False)
        for r in found.rows
    ]


@router.get(
    "/rollouts/{rollout_id}",
    response_model=RolloutOut,
    summary="One rollout with the state of each node",
    responses=responses(401, 403, 404),
)
async def get_rollout(
    rollout_id: RolloutId, principal: FirmwareRead, session: SessionDep
) -> RolloutOut:
    r = await _rollout(session, principal, rollout_id)
    img = await session.get(FirmwareImage, r.image_id)
    assert img is not None
    return service.rollout_out(r, img, await service.nodes_of(session, r.id))


@router.post(
    "/rollouts/{rollout_id}/stop",
    response_model=RolloutOut,
    summary="Stop a rollout: no node is released any more",
    responses=responses(401, 403, 404),
)
async def stop_rollout(
    rollout_id: RolloutId, principal: FirmwareWrite, session: SessionDep
) -> RolloutOut:
    r = await _rollout(session, principal, rollout_id)
    principal.require_write(r.county)
    if r.status == "running":
        r.status, r.stop_reason, r.updated_at = "stopped", f"stopped by {principal.actor}", utcnow()
        await record(session, principal.actor, "firmware.rollout_stopped", f"rollout:{r.id}",
                     r.county, {})  # fmt: skip
        await session.commit()
    img = await session.get(FirmwareImage, r.image_id)
    assert img is not None
    return service.rollout_out(r, img, await service.nodes_of(session, r.id))


@router.post(
    "/rollouts/{rollout_id}/nodes/{gateway_id}/{node_id}",
    response_model=RolloutOut,
    summary="A gateway reports a node's state; may stop the rollout or release a stage",
    responses=responses(401, 403, 404, 409, 422),
)
async def report_node(
    rollout_id: RolloutId,
    gateway_id: str,
    node_id: NodeId,
    body: NodeReport,
    principal: FirmwareReport,
    session: SessionDep,
) -> RolloutOut:
    if body.state not in REPORTABLE:
        raise ApiError(422, f"state {body.state!r} is not one of {', '.join(REPORTABLE)}",
                       field="body.state")  # fmt: skip
    r = await _rollout(session, principal, rollout_id)
    principal.require_write(r.county)
    principal.require_gateway(gateway_id)
    nodes = await service.nodes_of(session, r.id)
    node = next((n for n in nodes if n.gateway_id == gateway_id and n.node_id == node_id), None)
    if node is None:
        raise ApiError(404, f"node {gateway_id}/{node_id} is not in rollout {rollout_id}")
    service.check_transition(node, body.state)
    node.detail = body.detail
    happened = service.evaluate(r, nodes)
    r.updated_at = utcnow()
    if happened is not None:
        await record(session, principal.actor, f"firmware.rollout_{happened.split()[0]}",
                     f"rollout:{r.id}", r.county, {"event": happened,
                                                   "reason": r.stop_reason})  # fmt: skip
    await session.commit()
    img = await session.get(FirmwareImage, r.image_id)
    assert img is not None
    return service.rollout_out(r, img, nodes)


@router.get(
    "/gateways/{gateway_id}/assignments",
    response_model=list[Assignment],
    summary="What a gateway is to install now: released nodes of running rollouts",
    responses=responses(401, 403, 404),
)
async def assignments(
    gateway_id: str, principal: FirmwareFetch, session: SessionDep
) -> list[Assignment]:
    gw = await session.get(Gateway, gateway_id)
    if gw is None:
        raise ApiError(404, f"gateway {gateway_id!r} not found")
    principal.visible(gw.county, "gateway", gateway_id)
    principal.require_gateway(gateway_id)
    q = (
        select(FirmwareRolloutNode, FirmwareRollout, FirmwareImage)
        .join(FirmwareRollout, FirmwareRollout.id == FirmwareRolloutNode.rollout_id)
        .join(FirmwareImage, FirmwareImage.id == FirmwareRollout.image_id)
        .where(
            FirmwareRolloutNode.gateway_id == gateway_id,
            FirmwareRolloutNode.released.is_(True),
            FirmwareRolloutNode.state.in_(service.ACTIVE),
            FirmwareRollout.status == "running",
            FirmwareRollout.county == gw.county,
        )
        .order_by(FirmwareRolloutNode.id)
    )
    rows = (await session.execute(q)).all()
    return [
        Assignment(rollout_id=r.id, node_id=n.node_id, state=n.state, image=service.image_out(img))
        for n, r, img in rows
    ]
