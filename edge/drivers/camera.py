"""Camera driver: inspections on a schedule or on a trigger (issue 3's camera
interface; the vision itself is :mod:`edge.vision`, issue 5).

Sources, through ``cv2.VideoCapture``: a V4L2 device index (``"0"``), an RTSP URL
(``"rtsp://..."``), or a folder of image files (``"/path/to/folder"``, taken in
name order, each once). Scheduling: every ``interval_s``, and whenever
:meth:`CameraDriver.trigger` is called (the gateway wires a Modbus input to it).

A source that fails gives a ``device_down`` event and is reopened with jittered
exponential backoff (``device_up`` when it is back). A frame that cannot be read
or decoded is skipped and counted (``skipped``), never fatal. Each inspection
is an ``EventMessage(type="inspection")`` carrying the SHA-256 of the original
bytes (the file's bytes; for a live stream, the frame's JPEG at quality 95, which
is what is kept) and an annotated JPEG thumbnail. Originals are kept in
``originals_dir`` for ``keep_originals_s`` and then deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.drivers.base import Driver, Sink
from protocol.backoff import Backoff
from protocol.messages import AssetKind, EventMessage, EventType, InventoryItem, Severity

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class SourceError(RuntimeError):
    """The source is gone (unplugged camera, dropped stream, missing folder)."""


@dataclass(frozen=True, slots=True)
class CameraConfig:
    gateway: str
    local_id: str
    source: str
    program: str = "coffee"
    interval_s: float = 60.0
    lot: str | None = None
    originals_dir: Path = Path("var/camera/originals")
    keep_originals_s: float = 7 * 86400.0
    backoff_min_s: float = 1.0
    backoff_max_s: float = 60.0

    @property
    def device(self) -> str:
        return f"{self.gateway}.{self.local_id}"


def camera_driver(config: Any, spec: Any) -> CameraDriver:
    """The driver of one ``cameras[]`` entry of a gateway config (edge.config.CameraSpec)."""
    state_dir = Path(config.gateway.state_dir)
    return CameraDriver(
        CameraConfig(
            gateway=config.gateway.id,
            local_id=spec.id,
            source=spec.source,
            program=spec.program,
            interval_s=spec.interval_s,
            lot=spec.lot,
            originals_dir=spec.originals_dir or state_dir / "camera" / spec.id,
            keep_originals_s=spec.keep_originals_s,
        )
    )


class FolderSource:
    """Image files of a folder in name order, each once; bytes as they are on disk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._seen: set[str] = set()

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"folder {self.folder} does not exist")

    def read(self) -> tuple[bytes, str] | None:
        try:
            names = sorted(
                p.name for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
        except OSError as exc:
            raise SourceError(f"folder {self.folder}: {exc.strerror}") from None
        for name in names:
            if name not in self._seen:
                self._seen.add(name)
                path = self.folder / name
                return path.read_bytes(), path.suffix.lower().lstrip(".")
        return None

    def close(self) -> None:
        return None


class CaptureSource:
    """A V4L2 index or a stream URL through cv2.VideoCapture; frames as JPEG bytes.

    ``read`` and ``close`` run in worker threads (``asyncio.to_thread``); a lock
    keeps ``close`` (driver stop, reconnect) from releasing the capture while a
    read that a cancelled task left running is still inside it."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._cap: Any = None
        self._lock = threading.Lock()

    def open(self) -> None:
        import cv2

        target: int | str = int(self.spec) if self.spec.isdigit() else self.spec
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open camera {self.spec!r}")
        with self._lock:
            if self._cap is not None:
                self._cap.release()
            self._cap = cap

    def read(self) -> tuple[bytes, str] | None:
        import cv2

        with self._lock:
            if self._cap is None:
                raise SourceError("camera not open")
            ok, frame = self._cap.read()
        if not ok or frame is None:
            raise SourceError(f"camera {self.spec!r} stopped delivering frames")
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            return None
        return buf.tobytes(), "jpg"

    def close(self) -> None:
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None


#: The nice value of the inspection thread. The camera shares the gateway's process and
#: CPU; at +10 the kernel gives the Modbus poll loop (nice 0) the CPU first when both
#: want it, and the inspection takes what is left (docs/benchmarks.md, "Edge gateway").
INSPECTION_NICE = 10


def _lower_priority() -> None:
    """Thread initializer: this thread (not the process) at :data:`INSPECTION_NICE`.

    On Linux a nice value belongs to the thread (``setpriority`` on its TID). Where that
    is refused (no permission to change it), inspection runs at the process's priority
    and says so once."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), INSPECTION_NICE)
    except OSError as exc:
        log.warning("inspection thread keeps the gateway's priority: %s", exc)


def open_source(spec: str) -> FolderSource | CaptureSource:
    if spec.isdigit() or "://" in spec:
        return CaptureSource(spec)
    return FolderSource(Path(spec))


class CameraDriver(Driver):
    name = "camera"

    def __init__(self, config: CameraConfig, vision_config: Any = None) -> None:
        from edge.vision.config import VisionConfig

        self.config = config
        self.vision = vision_config or VisionConfig()
        self.source = open_source(config.source)
        self.skipped = 0
        self.inspections = 0
        self._state = "unknown"
        self._trigger = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sink: Sink | None = None
        self._seq = 0
        self._run: Any = None  # FruitRun for the conveyor program
        #: one low-priority thread for the inspection programs (OpenCV, CPU-bound)
        self._pool: ThreadPoolExecutor | None = None
        #: the lot id: from config, replaced by a ``set-lot`` command
        self.lot: str | None = config.lot

    # ----------------------------------------------------------- interface

    async def start(self, sink: Sink) -> None:
        self._sink = sink
        self._pool = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix=f"inspect-{self.config.local_id}",
            initializer=_lower_priority,
        )
        self._task = asyncio.create_task(self._loop(), name=f"camera-{self.config.local_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # wait() neither raises the task's CancelledError nor swallows a
            # cancellation of stop() itself
            await asyncio.wait([self._task])
            if not self._task.cancelled() and self._task.exception() is not None:
                log.error(
                    "camera %s loop had failed: %r", self.config.device, self._task.exception()
                )
            self._task = None
        await asyncio.to_thread(self.source.close)
        if self._pool is not None:
            # an inspection a cancelled task left running finishes on its own thread
            self._pool.shutdown(wait=False)
            self._pool = None

    def inventory(self) -> list[InventoryItem]:
        return [
            InventoryItem(
                device=self.config.device, kind=AssetKind.INSPECTION, driver=self.name, metrics=[]
            )
        ]

    def status(self) -> dict[str, str]:
        return {self.config.device: self._state}

    def trigger(self) -> None:
        """Inspect now (e.g. a Modbus input saw a tray arrive)."""
        self._trigger.set()

    def set_lot(self, lot: str | None) -> None:
        """The lot id set by a ``cmd``; wins over the QR code. ``None`` goes back to the QR code."""
        self.lot = lot

    # -------------------------------------------------------------- loop

    async def _loop(self) -> None:
        backoff = Backoff(self.config.backoff_min_s, self.config.backoff_max_s)
        while True:
            try:
                if self._state != "up":
                    await asyncio.to_thread(self.source.open)
                    self._set_state("up")
                    backoff.reset()
                await self._once()
            except SourceError as exc:
                self._set_state("down", str(exc))
                await asyncio.to_thread(self.source.close)
                await asyncio.sleep(backoff.next())
                continue
            await self._next_turn()

    async def _next_turn(self) -> None:
        """Until the interval elapses or :meth:`trigger` is called.

        Not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that
        arrives as the awaited event completes (a trigger just before :meth:`stop`),
        and the loop then never ends. ``asyncio.timeout`` tells its own timeout
        from a cancellation."""
        with contextlib.suppress(TimeoutError):  # the interval elapsed: inspect on schedule
            async with asyncio.timeout(self.config.interval_s):
                await self._trigger.wait()
        self._trigger.clear()

    async def _once(self) -> None:
        frame = await asyncio.to_thread(self.source.read)
        if frame is None:
            return
        try:
            loop = asyncio.get_running_loop()
            event = await loop.run_in_executor(self._pool, self._inspect, *frame)
        except Exception:  # a bug on one odd frame must not end the camera's loop
            self.skipped += 1
            log.exception("camera %s: inspection failed; frame skipped", self.config.device)
            return
        if event is not None and self._sink is not None:
            self._sink.put_event(event)

    def _inspect(self, data: bytes, ext: str) -> EventMessage | None:
        from edge.vision import coffee
        from edge.vision.annotate import thumbnail_jpeg
        from edge.vision.fruit import FruitRun
        from edge.vision.imagefile import ImageError, decode

        try:
            img = decode(data)
        except ImageError as exc:
            self.skipped += 1
            log.warning(
                "camera %s: frame skipped (%s); %d skipped so far",
                self.config.device,
                exc,
                self.skipped,
            )
            return None
        if self.config.program == "fruit":
            if self._run is None or self._run.lot != self.lot:
                self._run = FruitRun(self.vision, lot=self.lot)
            result = self._run.frame(img)
        else:
            result = coffee.inspect(img, self.vision, lot=self.lot)
        thumb = thumbnail_jpeg(result.annotated if result.annotated is not None else img)
        inspection = result.to_inspection(data, thumb)
        self._keep(data, ext, inspection.image_sha256)
        self.inspections += 1
        self._seq += 1
        ts = int(time.time() * 1000)
        return EventMessage(
            gw=self.config.gateway,
            id=f"insp-{inspection.image_sha256[:16]}-{ts}",
            ts=ts,
            type=EventType.INSPECTION,
            device=self.config.device,
            severity=Severity.INFO if result.usable else Severity.WARNING,
            message=None if result.usable else f"unusable: {result.reason}",
            attrs={"skipped": self.skipped},
            inspection=inspection,
        )

    def _keep(self, data: bytes, ext: str, sha: str) -> None:
        folder = self.config.originals_dir
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{sha}.{ext}").write_bytes(data)
        cutoff = time.time() - self.config.keep_originals_s
        for old in folder.iterdir():
            if old.stat().st_mtime < cutoff:
                old.unlink(missing_ok=True)

    def _set_state(self, state: str, why: str = "") -> None:
        if state == self._state:
            return
        self._state = state
        if self._sink is None:
            return
        self._sink.put_event(
            EventMessage(
                gw=self.config.gateway,
                id=f"cam-{self.config.local_id}-{state}-{int(time.time() * 1000)}"[:64],
                ts=int(time.time() * 1000),
                type=EventType.DEVICE_UP if state == "up" else EventType.DEVICE_DOWN,
                device=self.config.device,
                severity=Severity.INFO if state == "up" else Severity.WARNING,
                message=(why or None) and why[:500],
            )
        )
