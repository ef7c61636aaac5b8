"""OTA chaos over the pty simulator: every case ends with a bootable, signed image on the
node and an event log (gateway's and node's) that says what happened.

64 KB images by default; the 1 MB run is marked slow.
"""

from __future__ import annotations

import random

import pytest

from firmware_bridge.protocol import BootState, EventCode, FwVersion
from tests.firmware_bridge.ota_support import (
    FAST,
    HW,
    assert_bootable_signed,
    firmware,
    keys,
    node,
    signed,
    update,
)

SIZE = 64 * 1024


def _images(size: int = SIZE) -> tuple[bytes, bytes]:
    return firmware(4096, 99), firmware(size, 1)


async def test_plain_update_confirms() -> None:
    k = keys()
    model = node(k)
    old, new = _images()
    result, events = await update(model, signed(k, new, "1.1.0"))
    assert result.outcome == "confirmed", result
    assert events.kinds() == ["offered", "transferring", "committed", "trial-booted", "confirmed"]
    assert result.bytes_retransmitted == 0
    assert_bootable_signed(model, {"1.0.0": old, "1.1.0": new})
    assert [k for k, _ in model.flash.log][-2:] == ["trial-boot", "confirmed"]


@pytest.mark.parametrize("size", [SIZE, pytest.param(1024 * 1024, marks=pytest.mark.slow)])
async def test_power_loss_at_ten_random_points_resumes(size: int) -> None:
    k = keys()
    model = node(k)
    old, new = _images(size)
    chunks = size // 215
    points = sorted(random.Random(size).sample(range(1, chunks), 10))
    model.power_loss_after = list(points)
    model.down_time = 0.05
    result, events = await update(model, signed(k, new, "1.2.0"))
    assert result.outcome == "confirmed", result
    assert model.power_losses == 10
    # each resume starts where the node had got to, never from zero
    assert len(result.resumed_at) >= 10 and all(r > 0 for r in result.resumed_at)
    assert result.bytes_retransmitted < 10 * 16 * 215 + 1  # at most a burst per power loss
    assert events.kinds().count("resumed") >= 10
    assert [k for k, _ in model.flash.log].count("power-loss") == 10
    assert_bootable_signed(model, {"1.0.0": old, "1.2.0": new})


async def test_corrupted_chunk_is_refused_and_sent_again() -> None:
    k = keys()
    model = node(k)
    old, new = _images()
    model.corrupt_chunks = {215 * 40, 215 * 41 + 0}
    result, events = await update(model, signed(k, new, "1.1.0"))
    assert result.outcome == "confirmed", result
    assert "chunk-crc" in events.kinds()
    assert [k for k, _ in model.flash.log].count("chunk-crc") == 2
    assert 0 < result.bytes_retransmitted <= 2 * 16 * 215
    assert_bootable_signed(model, {"1.0.0": old, "1.1.0": new})


async def test_flash_corruption_is_caught_by_sha256_at_commit() -> None:
    k = keys()
    model = node(k)
    old, new = _images()
    model.corrupt_flash = {215 * 100}
    result, events = await update(model, signed(k, new, "1.1.0"))
    assert result.outcome == "confirmed", result
    assert "commit-refused" in events.kinds()
    assert "commit-sha256" in [k for k, _ in model.flash.log]
    assert_bootable_signed(model, {"1.0.0": old, "1.1.0": new})


async def test_wrong_signature_is_refused_after_the_manifest_only() -> None:
    k, intruder = keys(), keys()
    model = node(k)
    old, new = _images()
    result, events = await update(model, signed(intruder, new, "1.1.0"))
    assert result.outcome == "refused" and "OTA_SIGNATURE" in result.reason
    assert events.kinds()[-1] == "refused"
    assert result.bytes_sent < 1024  # the manifest went first; no image bytes were sent
    assert "refused" in [k for k, _ in model.flash.log]
    assert_bootable_signed(model, {"1.0.0": old})


async def test_tampered_image_is_refused_by_the_gateway_before_offering() -> None:
    k = keys()
    good = signed(k, firmware(SIZE, 1), "1.1.0")
    with pytest.raises(ValueError, match="sha256"):
        type(good)(firmware(SIZE, 2), good.manifest, good.signature)


async def test_downgrade_refused_unless_signed_as_allowed() -> None:
    k = keys()
    model = node(k, version="2.0.0")
    old, new = _images()
    result, _ = await update(model, signed(k, new, "1.9.0"))
    assert result.outcome == "refused" and "OTA_DOWNGRADE" in result.reason
    assert_bootable_signed(model, {"2.0.0": old})
    # a downgrade signed as allowed goes through
    result, events = await update(model, signed(k, new, "1.9.0", allow_downgrade=True))
    assert result.outcome == "confirmed", result
    assert_bootable_signed(model, {"2.0.0": old, "1.9.0": new})


async def test_other_hardware_and_newer_bootloader_refused() -> None:
    k = keys()
    model = node(k)
    old, new = _images()
    result, _ = await update(model, signed(k, new, "1.1.0", target="stm32-door-v1"))
    assert result.outcome == "refused" and "OTA_HARDWARE" in result.reason
    result, _ = await update(model, signed(k, new, "1.1.0", min_bootloader="3.0.0"))
    assert result.outcome == "refused" and "OTA_BOOTLOADER" in result.reason
    assert_bootable_signed(model, {"1.0.0": old})
    assert HW in str(model.hello())


async def test_failed_trial_boot_rolls_back_and_reports_it() -> None:
    k = keys()
    model = node(k, trial_boots=3)
    old, new = _images()
    model.fail_trial_boots = -1  # the new image never comes up
    result, events = await update(model, signed(k, new, "1.1.0"))
    assert result.outcome == "rolled-back", result
    assert "1.0.0" in result.reason and "1.1.0" in result.reason
    assert events.kinds()[-1] == "rolled-back"
    log = [k for k, _ in model.flash.log]
    assert log.count("trial-boot-failed") == 3 and "rollback" in log
    assert_bootable_signed(model, {"1.0.0": old})
    # the node also queued an EVENT(ROLLBACK) naming the refused version
    rollback = [e for e in model._events if e.code == EventCode.ROLLBACK]
    assert rollback and str(FwVersion.from_u32(rollback[0].arg)) == "1.1.0"


async def test_unconfirmed_trial_rolls_back_after_n_boots() -> None:
    """The trial image runs but its boot report is never confirmed (gateway gone)."""
    k = keys()
    model = node(k, trial_boots=2, confirm_timeout=0.1)
    old, new = _images()
    cfg = type(FAST)(**{**FAST.__dict__, "boot_timeout": 0.0})  # the gateway does not wait
    result, _ = await update(model, signed(k, new, "1.1.0"), cfg)
    assert result.outcome == "failed"
    import asyncio

    for _ in range(100):
        model.tick()
        if model.flash.rolled_back is not None:
            break
        await asyncio.sleep(0.02)
    assert model.flash.rolled_back is not None
    assert "rollback" in [k for k, _ in model.flash.log]
    # the next gateway contact hears of it: a ROLLED_BACK report and a ROLLBACK event
    report = model._report()
    assert report is not None and report.state == BootState.ROLLED_BACK
    assert str(report.other_version) == "1.1.0"
    assert_bootable_signed(model, {"1.0.0": old})


async def test_udp_with_ten_percent_loss_completes() -> None:
    from firmware_bridge.ota.events import EventLog
    from firmware_bridge.ota.sender import OtaConfig, OtaSender
    from tests.firmware_bridge.ota_support import NODE, udp_link

    k = keys()
    model = node(k)
    old, new = _images()
    events = EventLog()
    cfg = OtaConfig(window=8, timeout=0.05, max_timeout=0.5, max_silence=15)
    async with udp_link(model, loss=0.1, seed=5) as link:
        result = await OtaSender(
            link, NODE, signed(k, new, "1.1.0"), config=cfg, events=events
        ).run()
    assert result.outcome == "confirmed", result
    assert result.bytes_retransmitted > 0 and result.timeouts > 0
    assert_bootable_signed(model, {"1.0.0": old, "1.1.0": new})
