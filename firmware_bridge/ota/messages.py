"""The OTA exchange between gateway (G) and node (N), independent of framing.

::

    G -> N  Offer(manifest, signature, chunk_size)
    N -> G  OfferReply(status, next_missing, mask)     resume point; or a refusal
    G -> N  Chunk(index, data, crc32, ack_request)     a burst of up to `window`
    N -> G  ChunkAck(status, next_missing, mask)       after a burst (ack_request)
    G -> N  Commit(sha256)
    N -> G  CommitReply(status)                        then the node reboots on trial
    N -> G  BootReport(version, slot, trial, ...)      after every boot, until confirmed
    G -> N  BootConfirm(version)                       the trial image is kept

``next_missing`` is the lowest chunk the node lacks; bit k of ``mask`` says chunk
``next_missing + 1 + k`` has arrived (selective acknowledgement).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class OtaStatus(IntEnum):
    OK = 0
    REFUSED_SIGNATURE = 1
    REFUSED_TARGET = 2
    REFUSED_DOWNGRADE = 3
    REFUSED_BOOTLOADER = 4
    REFUSED_TOO_LARGE = 5
    CRC_ERROR = 6
    DIGEST_MISMATCH = 7
    INCOMPLETE = 8
    NO_TRANSFER = 9
    BAD_REQUEST = 10

    @property
    def refusal(self) -> bool:
        return self in REFUSALS


REFUSALS = frozenset(
    {
        OtaStatus.REFUSED_SIGNATURE,
        OtaStatus.REFUSED_TARGET,
        OtaStatus.REFUSED_DOWNGRADE,
        OtaStatus.REFUSED_BOOTLOADER,
        OtaStatus.REFUSED_TOO_LARGE,
        OtaStatus.BAD_REQUEST,
    }
)


@dataclass(frozen=True)
class Offer:
    manifest: bytes
    signature: bytes
    chunk_size: int


@dataclass(frozen=True)
class OfferReply:
    status: OtaStatus
    next_missing: int = 0
    mask: int = 0
    reason: str = ""


@dataclass(frozen=True)
class Chunk:
    index: int
    data: bytes
    crc: int
    ack_request: bool = False


@dataclass(frozen=True)
class ChunkAck:
    status: OtaStatus
    next_missing: int
    mask: int
    index: int = -1  # the chunk that prompted this ack (-1: none)


@dataclass(frozen=True)
class Commit:
    sha256: bytes


@dataclass(frozen=True)
class CommitReply:
    status: OtaStatus
    reason: str = ""


@dataclass(frozen=True)
class BootReport:
    version: str
    slot: str  # "a" or "b"
    trial: bool
    boots: int = 1  # boots of this image since it was committed
    rolled_back_from: str | None = None  # set after a rollback: the refused version


@dataclass(frozen=True)
class BootConfirm:
    version: str


OtaMessage = Offer | OfferReply | Chunk | ChunkAck | Commit | CommitReply | BootReport | BootConfirm
