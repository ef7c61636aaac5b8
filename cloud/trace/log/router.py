"""``/api/v1/trace/log/...``: the tamper-evident log's signed tree head, public key and
proofs.

Who may read what (docs/roles.md):

- ``checkpoint``, ``key`` and ``proof/consistency`` are **public**: a tree size, a
  root hash, the public key and hashes of subtrees reveal no event content, and an
  auditor or witness must be able to fetch them without an account.
- ``proof/inclusion`` names an event (by its eventID, or by the leaf index, which the
  log maps to one) and says it is logged: ``trace:read``, county-scoped like the event
  itself. An event of another county is 404, as an event not in the log is.

The checkpoint is signed on demand, once per tree size (kept in ``trace_log_heads``):
the first request after an append signs (one Ed25519 signature, O(log n) reads),
every other request reads the stored note.
"""

from __future__ import annotations

import base64
from typing import Annotated

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.db import MAX_INT32
from cloud.deps import DatabaseDep, SessionDep, SettingsDep
from cloud.errors import ApiError, responses
from cloud.trace.log import service
from cloud.trace.log.checkpoint import NoteSigner
from cloud.trace.log.keys import LogKeyError, load_signer
from cloud.trace.log.schemas import ConsistencyProofOut, InclusionProofOut, LogKeyOut
from cloud.trace.log.scope import event_county

router = APIRouter(prefix="/trace/log", tags=["trace log"])

TraceRead = Annotated[Principal, require("trace:read")]
#: Sizes and indices past int4 are refused (422), as every integer parameter of the API
#: is (tests/cloud/test_api_bounds.py): two billion events is beyond this log's scale.
MAX_INDEX = MAX_INT32
Size = Annotated[int, Query(ge=0, le=MAX_INDEX)]

EXAMPLE_CHECKPOINT = (
    "dehong.local/trace-log\n1234\nPj8Rw0hXQ3N9xY3D3Dk1oJp2oJm0O4ZxJQ1QkAtbYrA=\n\n"
    "— dehong.local/trace-log qY1l2Ojb8e8s...\n"
)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _signer(settings: SettingsDep) -> NoteSigner:
    try:
        return load_signer(settings)
    except LogKeyError as exc:
        raise ApiError(503, f"the trace log cannot sign: {exc}") from None


def _error(exc: service.LogError) -> ApiError:
    return ApiError(exc.status, str(exc), field=exc.field)


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    dependencies=[require("public")],
    summary="The log's latest signed tree head: a C2SP checkpoint in a signed note (public)",
    description="Origin, tree size and base64 root hash (RFC 9162), a blank line, then the "
    "Ed25519 signature line `— <origin> <base64(key id ‖ signature)>` "
    "(c2sp.org/tlog-checkpoint, c2sp.org/signed-note). Verify it with the key of "
    "`GET /api/v1/trace/log/key`.",
    responses={
        200: {"content": {"text/plain": {"example": EXAMPLE_CHECKPOINT}}},
        **responses(503),
    },
)
async def get_checkpoint(db: DatabaseDep, settings: SettingsDep) -> PlainTextResponse:
    signer = _signer(settings)
    async with db.transaction() as s:
        head = await service.latest_checkpoint(s, signer)
    return PlainTextResponse(head.note, media_type="text/plain; charset=utf-8")


@router.get(
    "/key",
    response_model=LogKeyOut,
    dependencies=[require("public")],
    summary="The log's public key, and its note verifier key (public)",
    responses=responses(503),
)
async def get_key(settings: SettingsDep) -> LogKeyOut:
    verifier = _signer(settings).verifier
    pem = (
        Ed25519PublicKey.from_public_bytes(verifier.public_key)
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return LogKeyOut(
        origin=verifier.name,
        key_id=f"{verifier.key_id:08x}",
        verifier_key=verifier.vkey,
        public_key=_b64(verifier.public_key),
        public_key_pem=pem,
    )


@router.get(
    "/proof/inclusion",
    response_model=InclusionProofOut,
    summary="Inclusion proof of one event (by eventID or leaf index) at a tree size",
    description="RFC 9162 2.1.3: the audit path from the event's leaf to the root at "
    "`tree_size` (default: the log's size now; give the size of a checkpoint you hold). "
    "County-scoped: an event of a county you cannot see is 404.",
    responses=responses(401, 403, 404, 422),
)
async def get_inclusion_proof(
    principal: TraceRead,
    session: SessionDep,
    event_id: Annotated[
        str | None,
        Query(min_length=1, max_length=2048, description="The eventID (or its log key)"),
    ] = None,
    index: Annotated[int | None, Query(ge=0, le=MAX_INDEX, description="The leaf index")] = None,
    tree_size: Annotated[
        int | None, Query(ge=1, le=MAX_INDEX, description="Default: the log's size now")
    ] = None,
) -> InclusionProofOut:
    if (event_id is None) == (index is None):
        raise ApiError(422, "give exactly one of event_id and index", field="query.event_id")
    # Scope first: nothing about another county's event (not even its index) is told.
    if event_id is not None:
        key = event_id if await service.leaf_of(session, event_id) is not None else None
    else:
        key = await service.key_at(session, index or 0)
    county = None if key is None else await event_county(session, key)
    if key is None or not (
        principal.is_prefecture or (county is not None and principal.can_see(county))
    ):
        field = "query.event_id" if event_id is not None else "query.index"
        what = f"event {event_id!r}" if event_id is not None else f"leaf {index}"
        raise ApiError(404, f"{what} is not in the log", field=field)
    try:
        proof = await service.inclusion_proof(session, event_id=key, size=tree_size)
    except service.LogError as exc:
        raise _error(exc) from None
    return InclusionProofOut(
        event_id=proof.event_id,
        leaf_index=proof.leaf_index,
        tree_size=proof.tree_size,
        leaf_hash=_b64(proof.leaf_hash),
        hashes=[_b64(h) for h in proof.hashes],
        root_hash=_b64(proof.root_hash),
    )


@router.get(
    "/proof/consistency",
    response_model=ConsistencyProofOut,
    dependencies=[require("public")],
    summary="Consistency proof between two tree sizes, for auditors (public)",
    description="RFC 9162 2.1.4: proves that the tree of `second` leaves extends the tree "
    "of `first` leaves (empty when first is 0 or equals second).",
    responses=responses(404, 422),
)
async def get_consistency_proof(
    session: SessionDep, first: Size, second: Size
) -> ConsistencyProofOut:
    try:
        proof = await service.consistency_proof(session, first, second)
    except service.LogError as exc:
        raise _error(exc) from None
    return ConsistencyProofOut(
        first=proof.first,
        second=proof.second,
        first_root=_b64(proof.first_root),
        second_root=_b64(proof.second_root),
        hashes=[_b64(h) for h in proof.hashes],
    )
