"""Lot bundles: events with their inclusion proofs, a signed checkpoint and the log's
key, in one JSON document that anyone can verify offline (``dehong trace verify``).

::

    {
      "format": "dehong-trace-bundle/1",
      "log_key": "<origin>+<key id>+<base64(0x01 ‖ Ed25519 public key)>",
      "checkpoint": "<origin>\\n<size>\\n<base64 root>\\n\\n— <origin> <base64 sig>\\n",
      "entries": [
        {"leaf_index": 17, "event": {...the event as stored...},
         "inclusion_proof": ["<base64 hash>", ...]},
        ...
      ]
    }

Verifying needs no database: only ``rfc8785`` and ``cryptography``.
Verification (:func:`verify_bundle`) checks, and names the first thing that fails:

1. the layout: exactly these members, the format, no duplicate JSON keys;
2. the key: a well-formed Ed25519 note verifier key whose key ID matches its name and
   public key (and, with ``--key``, the log's published key, byte for byte);
3. the checkpoint: a C2SP checkpoint in a signed note, signed by that key, whose
   origin is the key's name;
4. every entry: the leaf is SHA-256(0x00 ‖ RFC 8785 canonical JSON of the event); its
   inclusion proof (RFC 9162 2.1.3.2) leads from that leaf at ``leaf_index`` to the
   checkpoint's root.

Every byte that carries meaning is covered: any change to an event's fields or values,
a proof hash, an index, a line of the checkpoint, its signature or the key fails one
of those checks (tests/cloud/test_tlog_bundle.py changes each of them). What a bundle
cannot prove by itself is that it holds *every* event of a lot: it proves that each
event it holds is in the log, unchanged, under a tree head the log signed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cloud.trace.log import merkle
from cloud.trace.log.canonical import CanonicalizationError, canonical_json
from cloud.trace.log.checkpoint import (
    NoteError,
    NoteSigner,
    NoteVerifier,
    b64decode_strict,
    open_checkpoint,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

FORMAT = "dehong-trace-bundle/1"
_TOP = {"format", "log_key", "checkpoint", "entries"}
_ENTRY = {"leaf_index", "event", "inclusion_proof"}


class BundleError(ValueError):
    """The bundle does not verify; ``path`` names the first member at fault."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    """What a bundle proved: these events are in the log signed by this key."""

    origin: str
    key_id: str
    verifier_key: str
    tree_size: int
    root_hash: str
    event_ids: list[str]


# ------------------------------------------------------------------ building


async def build_bundle(
    session: AsyncSession, events: Sequence[tuple[str, dict[str, Any]]], signer: NoteSigner
) -> dict[str, Any]:
    """The bundle of ``events`` ((log key, event as stored) pairs, as given to
    :func:`~cloud.trace.log.service.append_events`) under the log's latest checkpoint.

    Signs that checkpoint if it is new (writes in ``session``: the caller commits).
    An event whose stored form no longer gives its logged leaf is refused: the bundle
    would not verify, and the store has been changed behind the log's back.
    """
    from cloud.trace.log import service  # here: verifying needs no database library

    if not events:
        raise BundleError("entries", "a bundle holds at least one event")
    head = await service.latest_checkpoint(session, signer)
    entries = []
    for i, (key, event) in enumerate(events):
        try:
            proof = await service.inclusion_proof(session, event_id=key, size=head.tree_size)
        except service.LogError as exc:
            raise BundleError(f"entries[{i}]", f"event {key!r}: {exc}") from None
        if merkle.leaf_hash(canonical_json(event)) != proof.leaf_hash:
            raise BundleError(
                f"entries[{i}].event",
                f"event {key!r} as stored is not the event the log holds at leaf "
                f"{proof.leaf_index}: the event store was changed after it was logged",
            )
        entries.append(
            {
                "leaf_index": proof.leaf_index,
                "event": event,
                "inclusion_proof": [base64.b64encode(h).decode("ascii") for h in proof.hashes],
            }
        )
    return {
        "format": FORMAT,
        "log_key": signer.verifier.vkey,
        "checkpoint": head.note,
        "entries": entries,
    }


# ------------------------------------------------------------------ verifying


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"the JSON object has the member {k!r} twice")
        out[k] = v
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_bundle(text: str | bytes) -> Any:
    """Parse a bundle's JSON strictly: duplicate member names and NaN/Infinity refused."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise BundleError("bundle", f"not a JSON bundle: {exc}") from None


def _members(value: Any, expected: set[str], path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BundleError(path, "must be a JSON object")
    keys = set(value)
    if keys != expected:
        missing, extra = sorted(expected - keys), sorted(keys - expected)
        raise BundleError(path, f"members missing {missing}, unexpected {extra}")
    return value


def verify_bundle(bundle: Any, pinned_key: str | None = None) -> Verified:
    """Verify a parsed bundle; :class:`BundleError` names the first failure.

    ``pinned_key``: the log's verifier key as published (``GET /api/v1/trace/log/key``);
    without it the bundle is only checked against the key it carries, which proves
    nothing about who signed unless that key is compared with the published one.
    """
    top = _members(bundle, _TOP, "bundle")
    if top["format"] != FORMAT:
        raise BundleError("format", f"not {FORMAT!r}")
    if not isinstance(top["log_key"], str):
        raise BundleError("log_key", "must be a string")
    try:
        verifier = NoteVerifier.from_vkey(top["log_key"])
    except NoteError as exc:
        raise BundleError("log_key", str(exc)) from None
    if pinned_key is not None and top["log_key"] != pinned_key:
        raise BundleError("log_key", "is not the log's published key given with --key")
    if not isinstance(top["checkpoint"], str):
        raise BundleError("checkpoint", "must be a string")
    try:
        checkpoint = open_checkpoint(top["checkpoint"], verifier)
    except NoteError as exc:
        raise BundleError("checkpoint", str(exc)) from None
    entries = top["entries"]
    if not isinstance(entries, list) or not entries:
        raise BundleError("entries", "must be a non-empty list")
    seen: set[int] = set()
    ids: list[str] = []
    for i, raw in enumerate(entries):
        path = f"entries[{i}]"
        entry = _members(raw, _ENTRY, path)
        index = entry["leaf_index"]
        if not isinstance(index, int) or isinstance(index, bool):
            raise BundleError(f"{path}.leaf_index", "must be an integer")
        if not 0 <= index < checkpoint.size:
            raise BundleError(
                f"{path}.leaf_index", f"{index} is not in the checkpoint's {checkpoint.size} leaves"
            )
        if index in seen:
            raise BundleError(f"{path}.leaf_index", f"leaf {index} is in the bundle twice")
        seen.add(index)
        event = entry["event"]
        if not isinstance(event, dict):
            raise BundleError(f"{path}.event", "must be a JSON object")
        proof_raw = entry["inclusion_proof"]
        if not isinstance(proof_raw, list):
            raise BundleError(f"{path}.inclusion_proof", "must be a list of base64 hashes")
        proof = []
        for j, h in enumerate(proof_raw):
            where = f"{path}.inclusion_proof[{j}]"
            if not isinstance(h, str):
                raise BundleError(where, "must be a base64 string")
            try:
                raw_hash = b64decode_strict(h, "the hash")
            except NoteError as exc:
                raise BundleError(where, str(exc)) from None
            if len(raw_hash) != merkle.HASH_SIZE:
                raise BundleError(where, "is not a 32-byte hash")
            proof.append(raw_hash)
        try:
            leaf = merkle.leaf_hash(canonical_json(event))
        except CanonicalizationError as exc:
            raise BundleError(f"{path}.event", str(exc)) from None
        try:
            merkle.verify_inclusion(index, checkpoint.size, leaf, proof, checkpoint.root_hash)
        except merkle.ProofError as exc:
            name = event.get("eventID", "?")
            raise BundleError(
                path,
                f"event {name!r} at leaf {index} is not in the signed tree: {exc} (the event, "
                "its index or its proof was changed)",
            ) from None
        ids.append(str(event.get("eventID", "")))
    return Verified(
        origin=checkpoint.origin,
        key_id=f"{verifier.key_id:08x}",
        verifier_key=verifier.vkey,
        tree_size=checkpoint.size,
        root_hash=base64.b64encode(checkpoint.root_hash).decode("ascii"),
        event_ids=ids,
    )
