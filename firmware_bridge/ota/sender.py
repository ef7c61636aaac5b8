"""The gateway's side of a node OTA: offer, chunks with selective repeat, commit, boot report.

Robustness:

- every request is retried with exponential backoff (``timeout`` doubling up to
  ``max_timeout``) and the whole exchange gives up only after ``max_silence``
  seconds without a word from the node;
- chunks go in bursts of ``window``; the last of a burst asks for an ack, which
  names every chunk the node holds near the front of the transfer, so only lost
  chunks are sent again (their bytes are counted as retransmitted);
- a node that loses power keeps what it acknowledged (it writes before it acks);
  after three silent bursts, or when it says it has no transfer, the gateway
  offers again and the node answers with its resume point;
- a node that finds the image's SHA-256 wrong at commit starts again from chunk 0
  (``max_restarts`` times).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from firmware_bridge.ota.chunks import ChunkSet, acked_indices, chunk_count, chunk_crc, chunk_of
from firmware_bridge.ota.events import EventLog
from firmware_bridge.ota.messages import (
    BootConfirm,
    BootReport,
    Chunk,
    ChunkAck,
    Commit,
    CommitReply,
    Offer,
    OfferReply,
    OtaMessage,
    OtaStatus,
)
from firmware_bridge.signing import Manifest, verify_image

#: The node states a gateway reports to the cloud, in order.
T = TypeVar("T")

STATES = (
    "offered",
    "transferring",
    "trial-booted",
    "confirmed",
    "rolled-back",
    "refused",
    "failed",
)


class OtaLink(Protocol):
    """One node's OTA messages, over whatever framing and transport carries them."""

    async def send(self, msg: OtaMessage) -> None: ...

    async def recv(self, wait: float) -> OtaMessage | None:
        """The next message, or None after ``wait`` seconds."""
        ...


class OtaTimeout(Exception):
    pass


@dataclass(frozen=True)
class OtaConfig:
    chunk_size: int = 200
    window: int = 16
    timeout: float = 0.25
    max_timeout: float = 4.0
    backoff: float = 2.0
    max_silence: float = 60.0
    boot_timeout: float = 30.0
    max_restarts: int = 2


@dataclass
class OtaResult:
    node: int
    outcome: str  # confirmed | rolled-back | refused | failed
    version: str
    reason: str = ""
    chunks: int = 0
    bytes_sent: int = 0
    bytes_retransmitted: int = 0
    offers: int = 0
    resumed_at: list[int] = field(default_factory=list)
    elapsed: float = 0.0


class OtaSender:
    def __init__(
        self,
        link: OtaLink,
        node: int,
        image: bytes,
        manifest: bytes,
        signature: bytes,
        *,
        config: OtaConfig | None = None,
        events: EventLog | None = None,
        on_state: Callable[[str, str], None] | None = None,
    ) -> None:
        self.link = link
        self.node = node
        self.image = image
        self.manifest_bytes = manifest
        self.manifest = Manifest.from_bytes(manifest)
        verify_image(self.manifest, image)  # never offer bytes the manifest did not sign
        self.signature = signature
        self.config = config or OtaConfig()
        self.events = events if events is not None else EventLog()
        self.on_state = on_state
        self.total = chunk_count(len(image), self.config.chunk_size)
        self.result = OtaResult(node, "failed", self.manifest.version, chunks=self.total)
        self._sent: set[int] = set()
        self._last_heard = time.monotonic()

    def _state(self, state: str, detail: str = "") -> None:
        self.events.add(state, self.node, detail)
        if self.on_state is not None:
            self.on_state(state, detail)

    async def run(self) -> OtaResult:
        started = time.monotonic()
        try:
            await self._run()
        except OtaTimeout as exc:
            self.result.outcome, self.result.reason = "failed", str(exc)
            self._state("failed", str(exc))
        self.result.elapsed = time.monotonic() - started
        return self.result

    async def _run(self) -> None:
        for attempt in range(self.config.max_restarts + 1):
            have = await self._offer()
            if have is None:
                return
            if attempt == 0:
                self._state("transferring", f"{self.total} chunks of {self.config.chunk_size} B")
            await self._transfer(have)
            reply = await self._commit()
            if reply.status is OtaStatus.OK:
                self.events.add("committed", self.node, f"sha256 {self.manifest.sha256[:16]}…")
                await self._await_boot()
                return
            self.events.add("commit-refused", self.node, f"{reply.status.name}: {reply.reason}")
        self.result.outcome = "failed"
        self.result.reason = "image digest wrong after every restart"
        self._state("failed", self.result.reason)

    # -- requests -------------------------------------------------------------------------

    async def _recv(self, wait: float) -> OtaMessage | None:
        msg = await self.link.recv(wait)
        if msg is not None:
            self._last_heard = time.monotonic()
        elif time.monotonic() - self._last_heard > self.config.max_silence:
            raise OtaTimeout(f"no answer from node {self.node} for {self.config.max_silence:g} s")
        return msg

    async def _request(self, msg: OtaMessage, kind: type[T], what: str) -> T:
        timeout = self.config.timeout
        while True:
            await self.link.send(msg)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                reply = await self._recv(left)
                if isinstance(reply, kind):
                    return reply
            timeout = min(timeout * self.config.backoff, self.config.max_timeout)
            self.events.add("retry", self.node, f"{what}: no answer, next wait {timeout:.2f} s")

    async def _offer(self) -> ChunkSet | None:
        self.result.offers += 1
        offer = Offer(self.manifest_bytes, self.signature, self.config.chunk_size)
        reply = await self._request(offer, OfferReply, "offer")
        if reply.status is not OtaStatus.OK:
            self.result.outcome, self.result.reason = (
                "refused",
                f"{reply.status.name}: {reply.reason}",
            )
            self._state("refused", self.result.reason)
            return None
        have = ChunkSet(self.total)
        self._apply(have, reply.next_missing, reply.mask)
        if self.result.offers == 1:
            self._state("offered", f"version {self.manifest.version}")
        if reply.next_missing:
            self.result.resumed_at.append(reply.next_missing)
            self.events.add("resumed", self.node, f"node holds chunks below {reply.next_missing}")
        return have

    def _apply(self, have: ChunkSet, base: int, mask: int) -> None:
        for i in range(min(base, self.total)):
            have.add(i)
        for i in acked_indices(base, mask, self.total):
            have.add(i)

    # -- transfer -------------------------------------------------------------------------

    async def _transfer(self, have: ChunkSet) -> None:
        cfg = self.config
        timeout, silent = cfg.timeout, 0
        while not have.complete():
            base = have.next_missing()
            burst = [i for i in range(base, min(base + 33, self.total)) if i not in have]
            burst = burst[: cfg.window]
            for n, index in enumerate(burst):
                data = chunk_of(self.image, index, cfg.chunk_size)
                last = n == len(burst) - 1
                await self.link.send(Chunk(index, data, chunk_crc(data), ack_request=last))
                self.result.bytes_sent += len(data)
                if index in self._sent:
                    self.result.bytes_retransmitted += len(data)
                self._sent.add(index)
            ack = await self._await_ack(timeout)
            if ack is None:
                silent += 1
                timeout = min(timeout * cfg.backoff, cfg.max_timeout)
                self.events.add("retry", self.node, f"no chunk ack, next wait {timeout:.2f} s")
                if silent >= 3:
                    # the node may have rebooted: ask where it stands
                    again = await self._offer()
                    if again is None:
                        raise OtaTimeout("node refused the offer it had accepted")
                    have.bits[:] = again.bits
                    silent = 0
                continue
            silent, timeout = 0, cfg.timeout
            if ack.status is OtaStatus.NO_TRANSFER:
                again = await self._offer()
                if again is None:
                    raise OtaTimeout("node refused the offer it had accepted")
                have.bits[:] = again.bits
                continue
            if ack.status is OtaStatus.CRC_ERROR:
                self.events.add("chunk-crc-error", self.node, f"chunk {ack.index} sent again")
            self._apply(have, ack.next_missing, ack.mask)

    async def _await_ack(self, wait: float) -> ChunkAck | None:
        """The ack of the burst's last chunk; earlier acks (e.g. of a bad CRC) count too."""
        deadline = time.monotonic() + wait
        got: ChunkAck | None = None
        while (left := deadline - time.monotonic()) > 0:
            msg = await self._recv(left)
            if isinstance(msg, ChunkAck):
                got = msg
                if msg.status is not OtaStatus.CRC_ERROR:
                    # drain acks already queued, keep the newest
                    while (more := await self._recv(0.0)) is not None:
                        if isinstance(more, ChunkAck):
                            got = more
                    return got
        return got

    async def _commit(self) -> CommitReply:
        return await self._request(
            Commit(bytes.fromhex(self.manifest.sha256)), CommitReply, "commit"
        )

    # -- boot -----------------------------------------------------------------------------

    async def _await_boot(self) -> None:
        new = self.manifest.version
        deadline = time.monotonic() + self.config.boot_timeout
        trial_seen = False
        while (left := deadline - time.monotonic()) > 0:
            msg = await self.link.recv(min(left, self.config.max_timeout))
            if not isinstance(msg, BootReport):
                continue
            self._last_heard = time.monotonic()
            if msg.rolled_back_from == new:
                self.result.outcome = "rolled-back"
                self.result.reason = f"node runs {msg.version} again after failed trial boots"
                self._state("rolled-back", self.result.reason)
                await self.link.send(BootConfirm(msg.version))
                return
            if msg.version != new:
                continue
            if msg.trial:
                if not trial_seen:
                    self._state("trial-booted", f"{new} on slot {msg.slot}, boot {msg.boots}")
                    trial_seen = True
                await self.link.send(BootConfirm(new))
            else:
                self.result.outcome = "confirmed"
                self._state("confirmed", f"{new} on slot {msg.slot}")
                return
        self.result.outcome = "failed"
        self.result.reason = f"no boot report within {self.config.boot_timeout:g} s"
        self._state("failed", self.result.reason)
