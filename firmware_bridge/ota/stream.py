"""The OTA transfer stream: the image, then the signed manifest (JSON + 64-byte signature).

Chunk offsets run over the whole stream (PROTOCOL.md, OTA_OFFER). A node asks
for the manifest part first (its first ack after an offer names offset
``image_size``), checks signature, hardware, version and bootloader, and only then
asks for offset 0, so a refused image costs a few hundred bytes, not a megabyte.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from firmware_bridge.protocol import FwVersion, OfferFlags, OtaOffer
from firmware_bridge.signing import Manifest, verify_image
from firmware_bridge.signing.mcuboot import IMAGE_MAGIC

SIGNATURE_SIZE = 64


@dataclass(frozen=True)
class OtaImage:
    """An image with its signed manifest, as the gateway offers it."""

    image: bytes
    manifest: bytes
    signature: bytes

    def __post_init__(self) -> None:
        if len(self.signature) != SIGNATURE_SIZE:
            raise ValueError(f"signature: {len(self.signature)} bytes, want {SIGNATURE_SIZE}")
        verify_image(Manifest.from_bytes(self.manifest), self.image)

    @property
    def is_mcuboot(self) -> bool:
        """The image is in MCUboot's format (its header's magic): offered with the MCUBOOT
        flag, so the node checks its TLV signature and hash as its bootloader will."""
        return len(self.image) >= 32 and int.from_bytes(self.image[:4], "little") == IMAGE_MAGIC

    @property
    def parsed(self) -> Manifest:
        return Manifest.from_bytes(self.manifest)

    @property
    def blob(self) -> bytes:
        """The stream's tail: manifest bytes then the signature."""
        return self.manifest + self.signature

    @property
    def stream(self) -> bytes:
        return self.image + self.blob

    @property
    def transfer_id(self) -> int:
        """Stable for the same signed image, so a node resumes after a gateway restart."""
        return int.from_bytes(hashlib.sha256(self.blob).digest()[:4], "big")

    def offer(self, chunk_size: int, *, mcuboot: bool = False) -> OtaOffer:
        m = self.parsed
        flags = (OfferFlags.DOWNGRADE_ALLOWED if m.allow_downgrade else 0) | (
            OfferFlags.MCUBOOT if mcuboot else 0
        )
        return OtaOffer(
            transfer_id=self.transfer_id,
            version=FwVersion.parse(m.version),
            image_size=len(self.image),
            chunk_size=chunk_size,
            image_sha256=bytes.fromhex(m.sha256),
            manifest_size=len(self.blob),
            manifest_sha256=hashlib.sha256(self.blob).digest(),
            flags=flags,
        )


def split_blob(blob: bytes) -> tuple[bytes, bytes]:
    """(manifest bytes, signature) of a stream's tail."""
    if len(blob) <= SIGNATURE_SIZE:
        raise ValueError(f"manifest: {len(blob)} bytes, too short to hold a signature")
    return blob[:-SIGNATURE_SIZE], blob[-SIGNATURE_SIZE:]
