"""The camera driver on a folder source: inspections, skipped corrupt frames,
originals kept, device down and back up."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
from pathlib import Path

import cv2
import pytest

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


async def _until(sink: _Sink, pred) -> None:  # type: ignore[no-untyped-def]
    """Re-check on every event, and every 50 ms for counters that send none."""
    async with asyncio.timeout(30):
        while not pred():
            sink.changed.clear()
            try:
                await asyncio.wait_for(sink.changed.wait(), 0.05)
            except TimeoutError:
                continue


# Known flaky: about 1 run in 3 hangs until the pytest timeout (cause not found yet;
# see the issue-5 report). Kept out of CI's default run until fixed.
@pytest.mark.slow
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
            lambda: (
                driver.skipped == 1 and any(e.type is EventType.INSPECTION for e in sink.events)
            ),
        )
        insp = next(e for e in sink.events if e.type is EventType.INSPECTION)
        assert insp.inspection is not None
        assert insp.inspection.image_sha256 == hashlib.sha256(good).hexdigest()
        assert insp.inspection.lot == "LOT-000004" and insp.inspection.usable
        assert base64.b64decode(insp.inspection.thumbnail_jpeg or "")[:2] == b"\xff\xd8"
        assert (tmp_path / "orig" / f"{insp.inspection.image_sha256}.jpg").read_bytes() == good
        assert sink.events[0].type is EventType.DEVICE_UP
        shutil.rmtree(folder)  # the source disappears
        await _until(sink, lambda: any(e.type is EventType.DEVICE_DOWN for e in sink.events))
        folder.mkdir()
        await _until(sink, lambda: sum(e.type is EventType.DEVICE_UP for e in sink.events) == 2)
        driver.trigger()
    finally:
        await driver.stop()
    assert driver.status() == {"gw-m1.cam1": "up"}
