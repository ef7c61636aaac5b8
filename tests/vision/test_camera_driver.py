"""The camera driver on a folder source: inspections, skipped corrupt frames,
originals kept, device down and back up."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import shutil
import time
from pathlib import Path

import cv2

from edge.drivers.base import Sample
from edge.drivers.camera import CameraConfig, CameraDriver
from protocol.messages import EventMessage, EventType
from simulators.camera.coffee import SMALL, make_coffee


class _Sink:
    def __init__(self) -> None:
        self.events: list[EventMessage] = []
        self.changed = asyncio.Event()

    def put_sample(self, sample: Sample) -> None:
        raise AssertionError("the camera driver sends events only")

    def put_event(self, event: EventMessage) -> None:
        self.events.append(event)
        self.changed.set()


async def _until(sink: _Sink, driver: CameraDriver, pred, what: str) -> None:  # type: ignore[no-untyped-def]
    """Re-check on every event, and every 50 ms for counters that send none; fail
    after 20 s saying what the driver did."""
    deadline = time.monotonic() + 20
    while not pred():
        task = driver._task
        if time.monotonic() > deadline or task is None or task.done():
            raise AssertionError(
                f"{what}: events {[e.type.value for e in sink.events]}, skipped "
                f"{driver.skipped}, state {driver._state}, task {task!r}"
            )
        sink.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sink.changed.wait(), 0.05)


async def test_folder_source_inspects_skips_and_reconnects(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    ok, buf = cv2.imencode(".jpg", make_coffee(4, SMALL).image)
    good = buf.tobytes()
    (folder / "a.jpg").write_bytes(good)
    (folder / "b.jpg").write_bytes(good[: len(good) // 3])  # truncated
    cfg = CameraConfig(
        gateway="gw-m1", local_id="cam1", source=str(folder), interval_s=0.05,
        originals_dir=tmp_path / "orig", backoff_min_s=0.05, backoff_max_s=0.1,
    )  # fmt: skip
    driver = CameraDriver(cfg)
    sink = _Sink()
    await driver.start(sink)
    try:
        await _until(
            sink,
            driver,
            lambda: (
                driver.skipped == 1 and any(e.type is EventType.INSPECTION for e in sink.events)
            ),
            "inspect a.jpg, skip b.jpg",
        )
        insp = next(e for e in sink.events if e.type is EventType.INSPECTION)
        assert insp.inspection is not None
        assert insp.inspection.image_sha256 == hashlib.sha256(good).hexdigest()
        assert insp.inspection.lot == "LOT-000004" and insp.inspection.usable
        assert base64.b64decode(insp.inspection.thumbnail_jpeg or "")[:2] == b"\xff\xd8"
        assert (tmp_path / "orig" / f"{insp.inspection.image_sha256}.jpg").read_bytes() == good
        assert sink.events[0].type is EventType.DEVICE_UP
        shutil.rmtree(folder)  # the source disappears
        await _until(
            sink, driver, lambda: any(e.type is EventType.DEVICE_DOWN for e in sink.events), "down"
        )
        folder.mkdir()
        await _until(
            sink,
            driver,
            lambda: sum(e.type is EventType.DEVICE_UP for e in sink.events) == 2,
            "up again",
        )
        driver.trigger()
    finally:
        await driver.stop()
    assert driver.status() == {"gw-m1.cam1": "up"}


async def test_stop_right_after_a_trigger_ends_the_loop(tmp_path: Path) -> None:
    """The hang of ~1 run in 3: a trigger just before stop() completed the awaited
    event as the cancellation arrived, asyncio.wait_for (3.11) swallowed the
    cancellation and the driver's loop never ended. Deterministic here: the loop
    sits in its wait (1 h interval) when trigger() and stop() come together."""
    (tmp_path / "in").mkdir()
    cfg = CameraConfig(
        gateway="gw-m1", local_id="cam1", source=str(tmp_path / "in"), interval_s=3600,
        originals_dir=tmp_path / "orig",
    )  # fmt: skip
    for _ in range(3):
        driver = CameraDriver(cfg)
        sink = _Sink()
        await driver.start(sink)
        await _until(sink, driver, lambda d=driver: d.status() == {"gw-m1.cam1": "up"}, "up")
        await asyncio.sleep(0.05)  # the folder is empty: the loop is now in its wait
        driver.trigger()
        t = time.monotonic()
        async with asyncio.timeout(5):
            await driver.stop()
        assert time.monotonic() - t < 1.0 and driver._task is None


async def test_set_lot_wins_over_the_qr_code_and_none_gives_it_back(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    ok, buf = cv2.imencode(".jpg", make_coffee(4, SMALL).image)
    cfg = CameraConfig(
        gateway="gw-m1", local_id="cam1", source=str(folder), interval_s=0.05,
        originals_dir=tmp_path / "orig",
    )  # fmt: skip
    driver = CameraDriver(cfg)
    driver.set_lot("LOT-SET-BY-CMD")
    assert cfg.lot is None  # the frozen config is left as it was
    sink = _Sink()
    await driver.start(sink)
    try:
        (folder / "a.jpg").write_bytes(buf.tobytes())
        inspections = lambda: [e for e in sink.events if e.type is EventType.INSPECTION]  # noqa: E731
        await _until(sink, driver, lambda: len(inspections()) == 1, "inspect a.jpg")
        driver.set_lot(None)
        (folder / "b.jpg").write_bytes(buf.tobytes())
        await _until(sink, driver, lambda: len(inspections()) == 2, "inspect b.jpg")
    finally:
        await driver.stop()
    lots = [e.inspection.lot for e in inspections() if e.inspection is not None]
    assert lots == ["LOT-SET-BY-CMD", "LOT-000004"]


def test_capture_close_waits_for_a_read_in_flight() -> None:
    """stop() closes the source while a read that the cancelled loop left in its
    worker thread may still be inside VideoCapture.read(): release() must wait."""
    import threading

    from edge.drivers.camera import CaptureSource

    log: list[str] = []
    inside = threading.Event()

    class _SlowCapture:
        def read(self) -> tuple[bool, object]:
            inside.set()
            time.sleep(0.2)
            log.append("read done")
            return True, make_coffee(1, SMALL).image

        def release(self) -> None:
            log.append("released")

    src = CaptureSource("0")
    src._cap = _SlowCapture()
    reader = threading.Thread(target=src.read)
    reader.start()
    assert inside.wait(5)
    src.close()
    reader.join(5)
    assert log == ["read done", "released"]
