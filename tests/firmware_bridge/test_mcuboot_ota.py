"""MCUboot images over OTA (issue 16): an image in MCUboot's format, signed by imgtool,
is offered with the MCUBOOT flag; the node model (simulators/mcu/bootloader.py) checks
its TLV trailer (SHA-256 and ed25519 signature) with imgtool's own ``Image.verify``
before it commits, as the bootloader will at boot. Over the pty simulator."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from firmware_bridge.protocol import OfferFlags
from firmware_bridge.signing import save_private_key
from firmware_bridge.signing.mcuboot import ImgtoolMissing, imgtool_command, sign_mcuboot
from tests.firmware_bridge.ota_support import (
    Keys,
    assert_bootable_signed,
    keys,
    node,
    signed,
    update,
)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Keys, bytes]:
    """A release key and a 6 KB image that imgtool signed with it (MCUboot format)."""
    try:
        imgtool_command()
    except ImgtoolMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    where: Path = tmp_path_factory.mktemp("mcuboot")
    k = keys()
    save_private_key(where / "release.key", k.private)
    (where / "zephyr.bin").write_bytes(os.urandom(6000))
    sign_mcuboot(where / "release.key", where / "zephyr.bin", where / "signed.bin", version="1.4.0")
    return k, (where / "signed.bin").read_bytes()


async def test_an_imgtool_signed_image_goes_through_and_boots(release: tuple[Keys, bytes]) -> None:
    k, image = release
    ota = signed(k, image, "1.4.0")
    assert ota.is_mcuboot and ota.offer(215, mcuboot=True).flags & OfferFlags.MCUBOOT
    model = node(k, mcuboot=True)
    result, events = await update(model, ota)
    assert result.outcome == "confirmed", result
    assert_bootable_signed(model, {"1.4.0": image})
    assert ("mcuboot-ok", "TLV hash and ed25519 signature verified (imgtool)") in model.flash.log


async def test_a_flipped_byte_is_refused_before_commit(release: tuple[Keys, bytes]) -> None:
    """The manifest signs the altered bytes (its SHA-256 matches): only the MCUboot
    trailer's hash tells, and the node refuses to commit what MCUboot would not boot."""
    k, image = release
    broken = bytearray(image)
    broken[0x200 + 100] ^= 0x01  # one bit of the code
    model = node(k, mcuboot=True)
    result, _ = await update(model, signed(k, bytes(broken), "1.4.0"))
    assert result.outcome == "refused" and "OTA_SIGNATURE" in result.reason, result
    kinds = [kind for kind, _ in model.flash.log]
    assert "mcuboot-refused" in kinds and "commit" not in kinds
    assert "INVALID_HASH" in dict(model.flash.log)["mcuboot-refused"]
    assert (
        str(model.flash.versions[model.flash.active]) == "1.0.0" and model.flash.trial_slot is None
    )


async def test_an_mcuboot_node_refuses_a_plain_image(release: tuple[Keys, bytes]) -> None:
    k, _ = release
    model = node(k, mcuboot=True)
    result, _ = await update(model, signed(k, b"\x11" * 3000, "1.5.0"))
    assert result.outcome == "refused", result
    assert ("refused", "OTA_SIGNATURE: MCUboot boots only MCUboot images") in model.flash.log
