"""The gateway's side of a node OTA: offer, chunks, commit, boot report, confirmation.

- Every request is retried with exponential backoff (``timeout`` doubling up to
  ``max_timeout``); the exchange gives up after ``max_silence`` seconds without a
  word from the node.
- Chunks go in bursts of ``window`` from the node's ``next_offset``; only the last
  of a burst carries ACK_REQ (on half-duplex RS-485 the node speaks only when
  asked). The node keeps chunks in order and acks the next offset it wants, so a
  lost chunk costs the rest of its burst (go-back-N); bytes sent again are counted.
- A node that lost power keeps every chunk it stored. When a burst goes
  unanswered (lost ack, lost last chunk, a node without power), or the node answers
  that it knows no transfer, the gateway offers again (a small frame, retried with
  backoff) and the node names its resume point.
- After the commit ACK the node reboots into its new slot on trial. The gateway
  polls for the BOOT_REPORT (with backoff while the node reboots), ACKs a TRIAL
  report (that ACK confirms the image), and waits for the CONFIRMED report. A
  ROLLED_BACK report ends the update as rolled back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from firmware_bridge.ota.events import EventLog
from firmware_bridge.ota.stream import OtaImage
from firmware_bridge.protocol import (
    Ack,
    BootReport,
    BootState,
    FwVersion,
    Message,
    OtaChunk,
    OtaChunkAck,
    OtaCommit,
    Poll,
    PollWant,
    Status,
)

#: Bytes of an OTA_CHUNK frame besides its data, at most: header 7, chunk header 12,
#: auth trailer 20, CRC 2, COBS 2, delimiter 1.
FRAME_OVERHEAD = 44
#: The node states a gateway reports to the cloud.
STATES = (
    "offered",
    "transferring",
    "trial-booted",
    "confirmed",
    "rolled-back",
    "refused",
    "failed",
)
#: Statuses with which a node refuses an image for good.
REFUSALS = frozenset(
    {
        Status.OTA_SIGNATURE,
        Status.OTA_HARDWARE,
        Status.OTA_DOWNGRADE,
        Status.OTA_SIZE,
        Status.OTA_BOOTLOADER,
        Status.UNSUPPORTED,
        Status.BAD_PAYLOAD,
    }
)


@dataclass(frozen=True)
class Incoming:
    msg: Message
    seq: int
    flags: int = 0


class OtaLink(Protocol):
    """One node's messages, over whatever framing and transport carries them."""

    async def send(self, msg: Message, *, ack_req: bool = False) -> int:
        """Send one message; returns the frame's sequence number."""
        ...

    async def recv(self, wait: float) -> Incoming | None:
        """The next message from the node, or None after ``wait`` seconds."""
        ...


class OtaTimeout(Exception):
    pass


class OtaRefused(Exception):
    pass


@dataclass(frozen=True)
class OtaConfig:
    chunk_size: int = 215
    window: int = 16
    timeout: float = 0.25
    max_timeout: float = 4.0
    backoff: float = 2.0
    max_silence: float = 60.0
    boot_timeout: float = 60.0
    max_restarts: int = 2
    #: the serial line's baud rate when the link does not pace its writes itself (the
    #: UART's buffer takes a burst at once): an ack is awaited after the burst's line
    #: time (10 bits per byte, frame overhead included) plus the usual timeout
    baudrate: int | None = None


@dataclass
class OtaResult:
    node: int
    outcome: str  # confirmed | rolled-back | refused | failed
    version: str
    reason: str = ""
    stream_bytes: int = 0
    bytes_sent: int = 0
    bytes_retransmitted: int = 0
    offers: int = 0
    timeouts: int = 0
    resumed_at: list[int] = field(default_factory=list)
    elapsed: float = 0.0
    transfer_seconds: float = 0.0  # first offer to the last chunk's ack
    boot_seconds: float = 0.0  # commit to the confirmed (or rolled-back) boot report


class OtaSender:
    def __init__(
        self,
        link: OtaLink,
        node: int,
        image: OtaImage,
        *,
        config: OtaConfig | None = None,
        events: EventLog | None = None,
        on_state: Callable[[str, str], None] | None = None,
    ) -> None:
        self.link = link
        self.node = node
        self.image = image
        self.manifest = image.parsed
        self.config = config or OtaConfig()
        self.offer_msg = image.offer(self.config.chunk_size, mcuboot=image.is_mcuboot)
        self.tid = self.offer_msg.transfer_id
        self.stream = image.stream
        self.events = events if events is not None else EventLog()
        self.on_state = on_state
        self.result = OtaResult(
            node, "failed", self.manifest.version, stream_bytes=len(self.stream)
        )
        self._sent: set[int] = set()
        self._last_heard = time.monotonic()
        self._offered = False
        self._srtt: float | None = None  # smoothed burst round trip (last chunk -> ack)

    def _state(self, state: str, detail: str = "") -> None:
        self.events.add(state, self.node, detail)
        if self.on_state is not None:
            self.on_state(state, detail)

    async def run(self) -> OtaResult:
        started = time.monotonic()
        try:
            await self._run()
        except OtaRefused as exc:
            self.result.outcome, self.result.reason = "refused", str(exc)
            self._state("refused", str(exc))
        except OtaTimeout as exc:
            self.result.outcome, self.result.reason = "failed", str(exc)
            self._state("failed", str(exc))
        self.result.elapsed = time.monotonic() - started
        return self.result

    async def _run(self) -> None:
        for _attempt in range(self.config.max_restarts + 1):
            t0 = time.monotonic()
            offset = await self._offer()
            await self._transfer(offset)
            self.result.transfer_seconds += time.monotonic() - t0
            status = await self._commit()
            if status == Status.OK:
                self.events.add("committed", self.node, f"sha256 {self.manifest.sha256[:16]}")
                t1 = time.monotonic()
                try:
                    await self._await_boot()
                finally:
                    self.result.boot_seconds = time.monotonic() - t1
                return
            if status in REFUSALS:
                raise OtaRefused(f"commit refused: {Status(status).name}")
            self.events.add("commit-refused", self.node, f"{_name(status)}; sending again")
        raise OtaTimeout("the node found the image wrong after every restart")

    # -- receiving ------------------------------------------------------------------------

    async def _recv(self, wait: float) -> Incoming | None:
        got = await self.link.recv(max(wait, 0.0))
        now = time.monotonic()
        if got is not None:
            self._last_heard = now
        elif now - self._last_heard > self.config.max_silence:
            raise OtaTimeout(f"no answer from node {self.node} for {self.config.max_silence:g} s")
        return got

    async def _wait_ack(self, wait: float) -> OtaChunkAck | None:
        """The newest OTA_CHUNK_ACK of this transfer within ``wait`` seconds."""
        deadline = time.monotonic() + wait
        got: OtaChunkAck | None = None
        while (left := deadline - time.monotonic()) > 0:
            inc = await self._recv(left)
            if inc is None:
                break
            if isinstance(inc.msg, OtaChunkAck) and inc.msg.transfer_id == self.tid:
                got = inc.msg
                # take acks already queued as well, keep the newest
                while (more := await self._recv(0.0)) is not None:
                    if isinstance(more.msg, OtaChunkAck) and more.msg.transfer_id == self.tid:
                        got = more.msg
                return got
        return got

    def _check(self, ack: OtaChunkAck) -> None:
        if ack.status in REFUSALS:
            raise OtaRefused(f"{_name(ack.status)}")

    # -- offer and transfer ---------------------------------------------------------------

    async def _offer(self) -> int:
        timeout = self.config.timeout
        while True:
            self.result.offers += 1
            await self.link.send(self.offer_msg, ack_req=True)
            ack = await self._wait_ack(timeout)
            if ack is not None:
                self._check(ack)
                if ack.status not in (Status.OK, Status.OTA_OFFSET, Status.OTA_CHUNK_CRC):
                    raise OtaRefused(f"offer answered {_name(ack.status)}")
                if not self._offered:
                    self._offered = True
                    self._state("offered", f"version {self.manifest.version} to node {self.node}")
                    self._state(
                        "transferring", f"{len(self.stream)} bytes, resume at {ack.next_offset}"
                    )
                else:
                    self.result.resumed_at.append(ack.next_offset)
                    self.events.add(
                        "resumed", self.node, f"node resumes at offset {ack.next_offset}"
                    )
                return ack.next_offset
            self.result.timeouts += 1
            timeout = min(timeout * self.config.backoff, self.config.max_timeout)
            self.events.add("retry", self.node, f"offer unanswered, next wait {timeout:.2f} s")

    def _burst(self, offset: int) -> list[tuple[int, bytes]]:
        image_size = len(self.image.image)
        end = image_size if offset < image_size else len(self.stream)
        out = []
        while offset < end and len(out) < self.config.window:
            size = min(self.config.chunk_size, end - offset)
            out.append((offset, self.stream[offset : offset + size]))
            offset += size
        return out

    async def _transfer(self, offset: int) -> None:
        while offset < len(self.stream):
            burst = self._burst(offset)
            if not burst:
                raise OtaRefused(f"node asked for offset {offset}, past the stream")
            for n, (off, data) in enumerate(burst):
                await self.link.send(OtaChunk(self.tid, off, data), ack_req=n == len(burst) - 1)
                self.result.bytes_sent += len(data)
                if off in self._sent:
                    self.result.bytes_retransmitted += len(data)
                self._sent.add(off)
            sent_at = time.monotonic()
            airtime = self._airtime(burst)
            ack = await self._wait_ack(airtime + self._rto())
            if ack is not None:
                rtt = max(time.monotonic() - sent_at - airtime, 0.0)
                self._srtt = rtt if self._srtt is None else 0.875 * self._srtt + 0.125 * rtt
            if ack is None:
                # the burst's ack, or its last chunk, was lost, or the node rebooted:
                # ask where it stands (a small offer, not another burst)
                self.result.timeouts += 1
                offset = await self._offer()
                continue
            self._check(ack)
            if ack.status == Status.OTA_NO_TRANSFER:
                self.events.add("no-transfer", self.node, "node lost the transfer; offering again")
                offset = await self._offer()
                continue
            if ack.status == Status.OTA_CHUNK_CRC:
                self.events.add(
                    "chunk-crc", self.node, f"node saw a bad chunk CRC before {ack.next_offset}"
                )
            elif ack.status == Status.OTA_FLASH:
                self.events.add("flash-error", self.node, f"at offset {ack.next_offset}")
            offset = ack.next_offset

    def _airtime(self, burst: list[tuple[int, bytes]]) -> float:
        if not self.config.baudrate:
            return 0.0
        wire = sum(len(data) + FRAME_OVERHEAD for _, data in burst)
        return wire * 10 / self.config.baudrate

    def _rto(self) -> float:
        """Ack timeout: ``timeout`` until a round trip is measured, then 3 x the smoothed
        round trip + 10 ms (RFC 6298 in spirit), within [20 ms, max_timeout]."""
        if self._srtt is None:
            return self.config.timeout
        return min(max(3 * self._srtt + 0.01, 0.02), self.config.max_timeout)

    async def _commit(self) -> int:
        commit = OtaCommit(self.tid, bytes.fromhex(self.manifest.sha256))
        timeout, seqs = self.config.timeout, set()
        while True:
            seqs.add(await self.link.send(commit, ack_req=True))
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                inc = await self._recv(left)
                if inc is None:
                    break
                if isinstance(inc.msg, Ack) and inc.msg.acked_seq in seqs:
                    return inc.msg.status
            self.result.timeouts += 1
            timeout = min(timeout * self.config.backoff, self.config.max_timeout)

    # -- boot -----------------------------------------------------------------------------

    async def _await_boot(self) -> None:
        new = FwVersion.parse(self.manifest.version)
        deadline = time.monotonic() + self.config.boot_timeout
        wait = self.config.timeout
        trial_seen = False
        while time.monotonic() < deadline:
            await self.link.send(Poll(PollWant.BOOT_REPORT), ack_req=True)
            until = time.monotonic() + wait
            report: Incoming | None = None
            while (left := until - time.monotonic()) > 0:
                inc = await self.link.recv(left)
                if inc is None:
                    break
                if isinstance(inc.msg, BootReport):
                    report = inc
                    break
            if report is None:
                wait = min(wait * self.config.backoff, self.config.max_timeout)
                continue
            wait = self.config.timeout
            r: BootReport = report.msg  # type: ignore[assignment]
            if r.state == BootState.ROLLED_BACK and r.other_version == new:
                await self.link.send(Ack(report.seq))
                reason = (
                    f"node rolled back to {r.version} after {r.boot_count} trial boot(s) of {new}"
                )
                self.result.outcome, self.result.reason = "rolled-back", reason
                self._state("rolled-back", reason)
                return
            if r.version != new:
                continue  # the old image, before the reboot
            if r.state == BootState.TRIAL:
                if not trial_seen:
                    trial_seen = True
                    self._state(
                        "trial-booted", f"{new} on slot {'AB'[r.slot]}, boot {r.boot_count}"
                    )
                await self.link.send(Ack(report.seq))  # the confirmation
            elif r.state == BootState.CONFIRMED:
                self.result.outcome = "confirmed"
                self._state("confirmed", f"{new} on slot {'AB'[r.slot]}")
                return
        raise OtaTimeout(f"no confirmed boot report within {self.config.boot_timeout:g} s")


def _name(status: int) -> str:
    try:
        return Status(status).name
    except ValueError:
        return f"status {status}"
