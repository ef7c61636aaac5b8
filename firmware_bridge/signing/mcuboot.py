"""MCUboot images, made and checked by MCUboot's own ``imgtool`` (PyPI ``imgtool``).

A node that runs MCUboot (Zephyr, ESP-IDF) boots only images in MCUboot's format:
a 32-byte header, the code, and a TLV trailer holding the SHA-256 and, here, an
Ed25519 signature. We do not re-implement that format; we run imgtool, so what
a real bootloader accepts is what imgtool writes. The key is the same PKCS#8 PEM
that ``dehong fw keygen`` writes. :func:`read_header` reads the header fields for
display and for the manifest's cross-check.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

IMAGE_MAGIC = 0x96F3B83D
_HEADER = struct.Struct("<IIHHIIBBHI")
_VERSION = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,5})(?:\+(\d{1,10}))?$")


class ImgtoolMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class McubootHeader:
    load_addr: int
    header_size: int
    protected_tlv_size: int
    image_size: int
    flags: int
    version: str


def imgtool_command() -> list[str]:
    """How to run imgtool: ``$DEHONG_IMGTOOL``, the installed module, or one on PATH."""
    configured = os.environ.get("DEHONG_IMGTOOL")
    if configured:
        return [configured]
    if importlib.util.find_spec("imgtool") is not None:
        return [sys.executable, "-m", "imgtool.main"]
    found = shutil.which("imgtool")
    if found:
        return [found]
    raise ImgtoolMissing("imgtool is not installed: pip install imgtool (or set DEHONG_IMGTOOL)")


def check_version(version: str) -> str:
    """MCUboot versions are major.minor.revision[+build] with 8/8/16/32-bit fields."""
    m = _VERSION.match(version)
    if not m or int(m[1]) > 255 or int(m[2]) > 255 or int(m[3]) > 65535:
        raise ValueError(
            f"version: {version!r} is not an MCUboot version (major.minor.revision[+build], "
            "e.g. 1.4.0)"
        )
    return version


def sign_mcuboot(
    key: Path,
    image: Path,
    out: Path,
    *,
    version: str,
    header_size: int = 0x200,
    slot_size: int | None = None,
    align: int = 4,
) -> McubootHeader:
    """Run ``imgtool sign`` (ed25519 from the key, header padded in front)."""
    check_version(version)
    if slot_size is None:
        # room for header, code, TLVs and the swap trailer (~1.6 KiB), in 4 KiB sectors
        need = header_size + image.stat().st_size + 4096
        slot_size = (need + 4095) // 4096 * 4096
    cmd = [
        *imgtool_command(), "sign", "--key", str(key), "--version", version,
        "--header-size", str(header_size), "--pad-header", "--slot-size", str(slot_size),
        "--align", str(align), str(image), str(out),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise ValueError(f"imgtool sign failed: {(done.stderr or done.stdout).strip()}")
    return read_header(out.read_bytes())


def verify_mcuboot(key: Path, image: Path) -> str:
    """Run ``imgtool verify``; returns its report, raises ValueError if it refuses."""
    cmd = [*imgtool_command(), "verify", "--key", str(key), str(image)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    out = (done.stdout + done.stderr).strip()
    if done.returncode != 0 or "Image was correctly validated" not in out:
        raise ValueError(f"imgtool verify refused {image}: {out}")
    return out


def read_header(data: bytes) -> McubootHeader:
    if len(data) < _HEADER.size:
        raise ValueError(f"mcuboot image: {len(data)} bytes, shorter than its header")
    magic, load, hdr, ptlv, size, flags, major, minor, rev, build = _HEADER.unpack_from(data)
    if magic != IMAGE_MAGIC:
        raise ValueError(f"mcuboot image: magic 0x{magic:08x}, expected 0x{IMAGE_MAGIC:08x}")
    return McubootHeader(load, hdr, ptlv, size, flags, f"{major}.{minor}.{rev}+{build}")
