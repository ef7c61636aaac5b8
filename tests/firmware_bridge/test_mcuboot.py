"""``dehong fw sign --format mcuboot``: an MCUboot image that imgtool's own verify accepts.

imgtool (PyPI) comes with the dev extra; locally it may be on PATH or named by
``DEHONG_IMGTOOL``. With CI=true a missing imgtool fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_bridge.signing import load_public_keys, verify_image, verify_manifest
from firmware_bridge.signing.mcuboot import (
    ImgtoolMissing,
    check_version,
    imgtool_command,
    read_header,
    verify_mcuboot,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def imgtool() -> list[str]:
    try:
        return imgtool_command()
    except ImgtoolMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def _dehong(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "dehong.cli", "fw", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_mcuboot_image_verifies_with_imgtool(tmp_path: Path, imgtool: list[str]) -> None:
    keys = tmp_path / "keys"
    assert _dehong("keygen", "--out", str(keys)).returncode == 0
    code = tmp_path / "zephyr.bin"
    code.write_bytes(os.urandom(6000))
    out = tmp_path / "out"
    r = _dehong(
        "sign", "--format", "mcuboot", "--key", str(keys / "fw-signing.key"),
        "--image", str(code), "--target", "nrf52840-door", "--version", "1.4.2", "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    signed = out / "zephyr.signed.bin"
    header = read_header(signed.read_bytes())
    assert (header.version, header.header_size, header.image_size) == ("1.4.2+0", 0x200, 6000)
    # imgtool's own verify, with the public key only
    report = verify_mcuboot(keys / "fw-signing.pub", signed)
    assert "1.4.2" in report
    # the manifest signs the MCUboot image bytes
    m = verify_manifest(
        (out / "manifest.json").read_bytes(), (out / "manifest.sig").read_bytes(),
        load_public_keys(keys / "fw-signing.pub"), expected_target="nrf52840-door",
        installed_version=None,
    )  # fmt: skip
    verify_image(m, signed.read_bytes())

    # imgtool refuses a flipped code byte and a foreign key
    broken = bytearray(signed.read_bytes())
    broken[0x200 + 10] ^= 0xFF
    (tmp_path / "broken.bin").write_bytes(bytes(broken))
    with pytest.raises(ValueError, match="imgtool verify refused"):
        verify_mcuboot(keys / "fw-signing.pub", tmp_path / "broken.bin")
    other = tmp_path / "other"
    assert _dehong("keygen", "--out", str(other)).returncode == 0
    with pytest.raises(ValueError, match="imgtool verify refused"):
        verify_mcuboot(other / "fw-signing.pub", signed)


def test_mcuboot_version_rules() -> None:
    assert check_version("1.2.3+4") == "1.2.3+4"
    for bad in ("1.2", "256.0.0", "1.2.3rc1"):
        with pytest.raises(ValueError, match="version"):
            check_version(bad)
    with pytest.raises(ValueError, match="magic"):
        read_header(b"\x00" * 32)
