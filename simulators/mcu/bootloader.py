"""An A/B bootloader and OTA receiver, as a node runs them, for the simulator.

What survives a power loss is in :class:`Flash` (slots, boot flags, the download's
progress, the node's event log); everything else is RAM and is lost. The model
answers the OTA messages of :mod:`firmware_bridge.protocol`:

- OTA_OFFER: refuses an image larger than a slot, or an older version unless the
  offer says the signed manifest allows it; resumes a transfer it already holds
  part of (same transfer id); otherwise starts one and asks for the manifest first;
- OTA_CHUNK: only in order; CRC-32 checked before the write, written before the
  ack. When the manifest has arrived it is verified (Ed25519, hardware, version,
  downgrade, bootloader) and the transfer is refused or continues with the image;
- OTA_COMMIT: SHA-256 of the written slot against the signed manifest; then the
  new slot is marked for a trial boot and the node reboots;
- boot: a trial image that fails to come up, or that is not confirmed (the
  gateway's ACK of its TRIAL boot report) within ``confirm_timeout`` seconds, is
  reset; after ``trial_boots`` such boots the bootloader goes back to the old slot,
  logs the rollback and queues an EVENT(ROLLBACK) and a ROLLED_BACK boot report.

Faults to inject: ``fail_trial_boots`` (how many trial boots fail; -1 all),
``power_loss_after`` (counts of chunks stored, over all boots, after which power is cut), ``corrupt_chunks``
(stream offsets whose chunk arrives with a flipped byte, once each) and
``corrupt_flash`` (offsets whose stored bytes go bad after the ack, so only the
SHA-256 at commit can see it).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from firmware_bridge.ota.stream import split_blob
from firmware_bridge.protocol import (
    Ack,
    BootReason,
    BootReport,
    BootState,
    Capability,
    Event,
    EventCode,
    Frame,
    FwVersion,
    Hello,
    Message,
    OfferFlags,
    OtaChunk,
    OtaChunkAck,
    OtaCommit,
    OtaOffer,
    Poll,
    PollWant,
    Status,
    crc32,
)
from firmware_bridge.signing import ImageRejected, Manifest, verify_manifest
from firmware_bridge.signing.manifest import DowngradeError, WrongTargetError

if TYPE_CHECKING:
    from simulators.mcu.node import SimNode


@dataclass
class Download:
    offer: OtaOffer
    image_next: int = 0
    blob: bytearray = field(default_factory=bytearray)
    manifest: Manifest | None = None

    @property
    def next_offset(self) -> int:
        """Manifest first, then the image; the stream's size when all is there."""
        if self.manifest is None and self.offer.manifest_size:
            return self.offer.image_size + len(self.blob)
        if self.image_next < self.offer.image_size:
            return self.image_next
        return self.offer.stream_size


@dataclass
class Flash:
    """What a power loss leaves: slots, boot state, download progress, event log."""

    slots: list[bytearray]
    versions: list[FwVersion]
    active: int = 0
    trial_slot: int | None = None
    trial_boots: int = 0
    trial_failed: int = 0  # of those, boots whose app did not come up
    rolled_back: tuple[FwVersion, int, int] | None = None  # (version, boots, reason) to report
    download: Download | None = None
    refused: tuple[int, int] | None = None  # (transfer id, status) of the last refusal
    committed: int | None = None  # transfer id of the last commit (a repeated commit is OK)
    log: list[tuple[str, str]] = field(default_factory=list)

    def event(self, kind: str, detail: str = "") -> None:
        self.log.append((kind, detail))


class NodeModel:
    """One node: bootloader, OTA receiver and a minimal application."""

    def __init__(
        self,
        *,
        hardware_id: str,
        public_keys: list[bytes],
        image: bytes,
        version: str,
        bootloader_version: str = "2.0.0",
        slot_size: int = 2 * 1024 * 1024,
        trial_boots: int = 3,
        confirm_timeout: float = 1.0,
        clock: object = time.monotonic,
        mcuboot: bool = False,
    ) -> None:
        self.hardware_id = hardware_id
        #: the node runs MCUboot: it boots only MCUboot images (offered with MCUBOOT)
        self.mcuboot = mcuboot
        self.public_keys = public_keys
        self.bootloader_version = FwVersion.parse(bootloader_version)
        self.slot_size = slot_size
        self.trial_boots = trial_boots
        self.confirm_timeout = confirm_timeout
        self.clock = clock
        self.flash = Flash(
            slots=[bytearray(image), bytearray()],
            versions=[FwVersion.parse(version), FwVersion(0, 0, 0)],
        )
        # faults
        self.fail_trial_boots = 0
        self.power_loss_after: list[int] = []
        self.corrupt_chunks: set[int] = set()
        self.corrupt_flash: set[int] = set()
        self.power_losses = 0
        self.chunks_total = 0  # chunks stored over all boots (the power-loss points count these)
        self.down_time = 0.3  # seconds without power after a power loss
        self._down_until = 0.0
        #: the node's own sequence counter, when the model runs inside a SimNode
        self.seq_source: Callable[[], int] | None = None
        # RAM
        self.powered = True
        self._seq = 0
        self._boot_report: BootReport | None = None
        self._report_seq: int | None = None
        self._events: list[Event] = []
        self._chunks_written = 0
        self._bad_crc = False
        self._booted_at = 0.0
        self._reboot_pending = False
        self._session = False
        self.boot(BootReason.POWER_ON)

    # -- state -----------------------------------------------------------------------------

    @property
    def running_slot(self) -> int:
        f = self.flash
        return f.trial_slot if f.trial_slot is not None and self._app_up else f.active

    @property
    def running_version(self) -> FwVersion:
        return self.flash.versions[self.running_slot]

    @property
    def confirmed_version(self) -> FwVersion:
        return self.flash.versions[self.flash.active]

    def up(self) -> bool:
        """Powered, and running an application (not a failing trial image)."""
        if self.clock() < self._down_until:  # type: ignore[operator]
            return False
        return self.flash.trial_slot is None or self._app_up

    def bootable(self) -> bool:
        """The confirmed slot holds an image whose signed digest matches (checked by tests)."""
        return len(self.flash.slots[self.flash.active]) > 0

    def hello(self) -> Hello:
        caps = Capability.OTA | Capability.AB_SLOTS | Capability.EVENTS
        return Hello(
            self.running_version, self.bootloader_version, caps, self.running_slot, self.hardware_id
        )

    def _next_seq(self) -> int:
        if self.seq_source is not None:
            return self.seq_source()
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    # -- power and boot --------------------------------------------------------------------

    def power_loss(self) -> None:
        """Cut the power: RAM is gone, flash stays; the node is deaf for ``down_time``."""
        self.power_losses += 1
        self.flash.event("power-loss", f"after {self._chunks_written} chunk(s) written")
        self._down_until = self.clock() + self.down_time  # type: ignore[operator]
        self.boot(BootReason.BROWNOUT)

    def boot(self, reason: BootReason) -> None:
        """The bootloader: trial slot (counting boots), rollback after N, or the active one."""
        f = self.flash
        self._events, self._boot_report, self._report_seq = self._events[-8:], None, None
        self._chunks_written, self._bad_crc, self._reboot_pending = 0, False, False
        self._session = False  # the receiver waits for an offer; progress is in flash
        self._app_up = False
        self._booted_at = self.clock()  # type: ignore[operator]
        while f.trial_slot is not None:
            if f.trial_boots >= self.trial_boots:
                new = f.versions[f.trial_slot]
                why = (
                    BootReason.ROLLBACK_TRIAL_FAILED
                    if f.trial_failed == f.trial_boots
                    else BootReason.ROLLBACK_NO_CONFIRM
                )
                f.rolled_back = (new, f.trial_boots, why)
                f.event(
                    "rollback",
                    f"{new} not confirmed after {f.trial_boots} boot(s) ({why.name}); "
                    f"back to {f.versions[f.active]} on slot {'AB'[f.active]}",
                )
                f.trial_slot, f.trial_boots, f.trial_failed = None, 0, 0
                break
            f.trial_boots += 1
            if self.fail_trial_boots:
                self.fail_trial_boots -= 1 if self.fail_trial_boots > 0 else 0
                f.trial_failed += 1
                f.event("trial-boot-failed", f"{f.versions[f.trial_slot]} boot {f.trial_boots}")
                continue  # the watchdog resets: the bootloader runs again
            self._app_up = True
            f.event("trial-boot", f"{f.versions[f.trial_slot]} boot {f.trial_boots}")
            self._boot_report = BootReport(
                f.trial_slot, f.versions[f.trial_slot], BootState.TRIAL, BootReason.OTA_TRIAL,
                f.trial_boots, f.versions[f.active],
            )  # fmt: skip
            return
        self._app_up = False
        if f.rolled_back is not None:
            new, boots, why = f.rolled_back
            self._boot_report = BootReport(
                f.active, f.versions[f.active], BootState.ROLLED_BACK, why, boots, new
            )
            self._events.append(Event(0, 0, EventCode.ROLLBACK, new.as_u32(), "rollback"))
        else:
            other = 1 - f.active
            self._boot_report = BootReport(
                f.active, f.versions[f.active], BootState.CONFIRMED, reason, 0, f.versions[other]
            )

    def tick(self) -> None:
        """Time passes: an unconfirmed trial image resets itself; a commit reboots."""
        now = self.clock()  # type: ignore[operator]
        if self._reboot_pending:
            self.boot(BootReason.OTA_TRIAL)
        elif (
            self.flash.trial_slot is not None
            and self._app_up
            and now - self._booted_at > self.confirm_timeout
        ):
            self.flash.event("trial-unconfirmed", f"reset after {self.confirm_timeout:g} s")
            self.boot(BootReason.WATCHDOG)

    # -- messages --------------------------------------------------------------------------

    def handle(self, msg: Message, seq: int, ack_req: bool) -> list[tuple[Message, int]]:
        """Replies (message, their sequence number) to one message from the gateway."""
        replies = [(r, self._next_seq()) for r in self._handle(msg, seq, ack_req)]
        for r, s in replies:
            if isinstance(r, BootReport) and r.state != BootState.CONFIRMED:
                self._report_seq = s
        return replies

    def _handle(self, msg: Message, seq: int, ack_req: bool) -> list[Message]:
        if self.clock() < self._down_until:  # type: ignore[operator]
            return []  # no power
        if isinstance(msg, OtaChunk):
            ack = self._chunk(msg)
            if self.power_loss_after and self.chunks_total >= self.power_loss_after[0]:
                self.power_loss_after.pop(0)
                self.power_loss()
                return []  # the ack never leaves
            return [ack] if ack_req or ack.status in _LOUD else []
        if isinstance(msg, OtaOffer):
            return [self._offer(msg)]
        if isinstance(msg, OtaCommit):
            return [Ack(seq, self._commit(msg))]
        if isinstance(msg, Poll):
            if msg.want == PollWant.HELLO:
                return [self.hello()]
            if msg.want == PollWant.BOOT_REPORT:
                if self.flash.trial_slot is not None and not self._app_up:
                    return []  # a failing trial image says nothing
                return [self._report()] if self._report() is not None else []
            if self._events:
                return [self._events.pop(0)]
            return [Ack(seq)]
        if isinstance(msg, Ack):
            if self._report_seq is not None and msg.acked_seq == self._report_seq:
                self._confirm()
            return []
        return [Ack(seq, Status.UNSUPPORTED)] if ack_req else []

    def _report(self) -> BootReport | None:
        f = self.flash
        if self._boot_report is not None:
            return self._boot_report
        return BootReport(f.active, f.versions[f.active], BootState.CONFIRMED, 0, 0,
                          f.versions[1 - f.active])  # fmt: skip

    def _confirm(self) -> None:
        f = self.flash
        if f.trial_slot is not None and self._app_up:
            f.active, f.trial_slot, f.trial_boots, f.trial_failed = f.trial_slot, None, 0, 0
            f.event("confirmed", f"{f.versions[f.active]} on slot {'AB'[f.active]}")
            self._boot_report = BootReport(
                f.active, f.versions[f.active], BootState.CONFIRMED, BootReason.OTA_TRIAL, 0,
                f.versions[1 - f.active],
            )  # fmt: skip
        elif f.rolled_back is not None:
            f.rolled_back = None  # the gateway has heard of the rollback
            self._boot_report = None
        self._report_seq = None

    # -- OTA -------------------------------------------------------------------------------

    def _offer(self, offer: OtaOffer) -> OtaChunkAck:
        f = self.flash
        tid = offer.transfer_id
        if f.trial_slot is not None:
            return OtaChunkAck(tid, 0, Status.BUSY)
        if offer.image_size > self.slot_size:
            return self._refuse(tid, Status.OTA_SIZE, f"{offer.image_size} B > slot")
        if (
            offer.version < self.confirmed_version
            and not offer.flags & OfferFlags.DOWNGRADE_ALLOWED
        ):
            return self._refuse(
                tid, Status.OTA_DOWNGRADE, f"{offer.version} < {self.confirmed_version}"
            )
        if f.refused is not None and f.refused[0] == tid:
            return OtaChunkAck(tid, 0, f.refused[1])
        if self.mcuboot and not offer.flags & OfferFlags.MCUBOOT:
            return self._refuse(tid, Status.OTA_SIGNATURE, "MCUboot boots only MCUboot images")
        d = f.download
        self._session = True
        if d is not None and d.offer == offer:
            f.event("resume", f"transfer {tid:08x} at offset {d.next_offset}")
            return OtaChunkAck(tid, d.next_offset, Status.OK)
        f.download = Download(offer)
        f.slots[1 - f.active] = bytearray()  # erase the other slot
        f.event("offer", f"{offer.version}, {offer.image_size} B, transfer {tid:08x}")
        return OtaChunkAck(tid, f.download.next_offset, Status.OK)

    def _refuse(self, tid: int, status: Status, why: str) -> OtaChunkAck:
        self.flash.refused = (tid, status)
        self.flash.download = None
        self.flash.event("refused", f"{status.name}: {why}")
        return OtaChunkAck(tid, 0, status)

    def _chunk(self, c: OtaChunk) -> OtaChunkAck:
        f, d = self.flash, self.flash.download
        if d is None or d.offer.transfer_id != c.transfer_id or not self._session:
            if f.refused is not None and f.refused[0] == c.transfer_id:
                return OtaChunkAck(c.transfer_id, 0, f.refused[1])
            return OtaChunkAck(c.transfer_id, 0, Status.OTA_NO_TRANSFER)
        data = bytes(c.data)
        if c.offset in self.corrupt_chunks:
            self.corrupt_chunks.discard(c.offset)
            data = bytes([data[0] ^ 0x5A]) + data[1:]
        if c.crc32 is not None and crc32(data) != c.crc32:
            f.event("chunk-crc", f"offset {c.offset}: CRC-32 mismatch, dropped")
            self._bad_crc = True
            return OtaChunkAck(c.transfer_id, d.next_offset, Status.OTA_CHUNK_CRC)
        if c.offset != d.next_offset:
            status = Status.OTA_CHUNK_CRC if self._bad_crc else Status.OTA_OFFSET
            return OtaChunkAck(c.transfer_id, d.next_offset, status)
        self._bad_crc = False
        if c.offset >= d.offer.image_size:  # the manifest part
            d.blob += data[: d.offer.manifest_size - len(d.blob)]
            if len(d.blob) >= d.offer.manifest_size:
                refusal = self._check_manifest(d)
                if refusal is not None:
                    return self._refuse(c.transfer_id, *refusal)
        else:
            part = data[: d.offer.image_size - c.offset]
            slot = f.slots[1 - f.active]
            slot += part
            if c.offset in self.corrupt_flash:
                self.corrupt_flash.discard(c.offset)
                slot[c.offset] ^= 0x01
            d.image_next += len(part)
        self._chunks_written += 1
        self.chunks_total += 1
        return OtaChunkAck(c.transfer_id, d.next_offset, Status.OK)

    def _check_manifest(self, d: Download) -> tuple[Status, str] | None:
        if hashlib.sha256(d.blob).digest() != d.offer.manifest_sha256:
            return Status.OTA_SIGNATURE, "manifest bytes differ from the offer's digest"
        try:
            manifest_bytes, signature = split_blob(bytes(d.blob))
            m = verify_manifest(
                manifest_bytes,
                signature,
                self.public_keys,
                expected_target=self.hardware_id,
                installed_version=str(self.confirmed_version),
            )
        except WrongTargetError as exc:
            return Status.OTA_HARDWARE, str(exc)
        except DowngradeError as exc:
            return Status.OTA_DOWNGRADE, str(exc)
        except (ImageRejected, ValueError) as exc:
            return Status.OTA_SIGNATURE, str(exc)
        if m.kind != "node-image":
            return Status.OTA_HARDWARE, f"kind {m.kind} is not a node image"
        if FwVersion.parse(m.version) != d.offer.version or m.size != d.offer.image_size:
            return Status.OTA_SIGNATURE, "offer's version or size differ from the manifest"
        if bytes.fromhex(m.sha256) != d.offer.image_sha256:
            return Status.OTA_SIGNATURE, "offer's image digest differs from the manifest"
        if m.min_bootloader and FwVersion.parse(m.min_bootloader) > self.bootloader_version:
            return Status.OTA_BOOTLOADER, f"needs bootloader {m.min_bootloader}"
        d.manifest = m
        self.flash.event("manifest-ok", f"{m.version} for {m.target}, signature verified")
        return None

    def _commit(self, c: OtaCommit) -> Status:
        f, d = self.flash, self.flash.download
        if f.committed == c.transfer_id:
            return Status.OK  # the gateway did not hear our first answer
        if d is None or d.offer.transfer_id != c.transfer_id:
            return Status.OTA_NO_TRANSFER
        if d.next_offset != d.offer.stream_size or d.manifest is None:
            return Status.OTA_OFFSET
        slot = f.slots[1 - f.active]
        digest = hashlib.sha256(slot).digest()
        if digest != d.offer.image_sha256 or c.image_sha256 != d.offer.image_sha256:
            f.event("commit-sha256", "image SHA-256 differs from the signed manifest; erased")
            f.download = None
            f.slots[1 - f.active] = bytearray()
            return Status.OTA_SHA256
        if d.offer.flags & OfferFlags.MCUBOOT:
            why = verify_mcuboot_image(bytes(slot), self.public_keys, d.manifest.version)
            if why is not None:  # what MCUboot would refuse at boot is never committed
                f.event("mcuboot-refused", why)
                f.download = None
                f.slots[1 - f.active] = bytearray()
                f.refused = (c.transfer_id, Status.OTA_SIGNATURE)
                return Status.OTA_SIGNATURE
            f.event("mcuboot-ok", "TLV hash and ed25519 signature verified (imgtool)")
        new = 1 - f.active
        f.versions[new] = FwVersion.parse(d.manifest.version)
        f.trial_slot, f.trial_boots, f.trial_failed = new, 0, 0
        f.download, f.committed = None, c.transfer_id
        f.event("commit", f"{f.versions[new]} in slot {'AB'[new]}, SHA-256 ok; trial boot next")
        self._reboot_pending = True
        return Status.OK


#: Statuses a node sends even for a chunk without ACK_REQ (so a refusal is heard at once).
_LOUD = frozenset(
    {Status.OTA_SIGNATURE, Status.OTA_HARDWARE, Status.OTA_DOWNGRADE, Status.OTA_BOOTLOADER}
)


def attach_ota(node: SimNode, model: NodeModel) -> None:
    """Give a ``dehong sim mcu`` node (:class:`simulators.mcu.node.SimNode`) this OTA
    model: its OTA messages, boot reports and HELLO come from the model (one sequence
    counter: the node's); readings and the rest stay the node's."""
    from firmware_bridge.protocol import ACK_REQ, FROM_NODE, MsgType

    model.seq_source = node.next_seq

    def answer(frame: Frame, msg: Message) -> tuple[Message, int, int] | None:
        model.tick()
        replies = model.handle(msg, frame.seq, bool(frame.flags & ACK_REQ))
        return (replies[0][0], replies[0][1], FROM_NODE) if replies else None

    node_poll, node_ack = node.on_poll, node.on_ack

    def on_poll(frame: Frame, msg: Poll) -> tuple[Message, int, int] | None:
        if msg.want in (PollWant.BOOT_REPORT, PollWant.HELLO) or not model.up():
            return answer(frame, msg)
        return node_poll(frame, msg)

    def on_ack(frame: Frame, msg: Ack) -> None:
        answer(frame, msg)
        return node_ack(frame, msg)

    for kind in (MsgType.OTA_OFFER, MsgType.OTA_CHUNK, MsgType.OTA_COMMIT):
        node.handlers[kind] = answer
    node.handlers[MsgType.POLL] = on_poll
    node.handlers[MsgType.ACK] = on_ack
    node.hello = model.hello  # type: ignore[method-assign]


def verify_mcuboot_image(image: bytes, public_keys: list[bytes], version: str) -> str | None:
    """Why MCUboot would refuse ``image`` (None: it boots): its TLV trailer's SHA-256
    over header and code, and its ed25519 signature under one of ``public_keys``,
    checked by imgtool's own ``Image.verify`` (as ``imgtool verify`` does); the header's
    version must be the manifest's."""
    import struct
    import tempfile

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from imgtool.image import Image, VerifyResult
    from imgtool.keys.ed25519 import Ed25519Public

    from firmware_bridge.signing.mcuboot import read_header

    try:
        header = read_header(image)
    except ValueError as exc:
        return str(exc)
    if header.version.split("+")[0] != str(FwVersion.parse(version)):
        return f"MCUboot header version {header.version} is not the manifest's {version}"
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(image)
        f.flush()
        results = []
        for raw in public_keys:
            key = Ed25519Public(Ed25519PublicKey.from_public_bytes(raw))
            try:
                result = Image.verify(f.name, key)[0]
            except (ValueError, IndexError, KeyError, struct.error) as exc:  # malformed: refused
                result = f"malformed image ({type(exc).__name__}: {exc})"
            if result == VerifyResult.OK:
                return None
            results.append(getattr(result, "name", str(result)))
    return f"MCUboot verification failed: {', '.join(sorted(set(results))) or 'no key'}"
