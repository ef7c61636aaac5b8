"""Chunking of an image, the chunk CRC, and the set of chunks a node holds."""

from __future__ import annotations

import zlib

#: 32 chunks after the lowest missing one are acknowledged selectively.
ACK_MASK_BITS = 32


def chunk_count(size: int, chunk_size: int) -> int:
    if chunk_size <= 0:
        raise ValueError(f"chunk_size: {chunk_size} must be positive")
    return (size + chunk_size - 1) // chunk_size


def chunk_of(image: bytes, index: int, chunk_size: int) -> bytes:
    return image[index * chunk_size : (index + 1) * chunk_size]


def chunk_crc(data: bytes) -> int:
    """CRC-32 (IEEE, zlib) of a chunk's data: checked before the chunk is written."""
    return zlib.crc32(data) & 0xFFFFFFFF


class ChunkSet:
    """Which chunks of a transfer have arrived; a bitmap, as a node keeps it in flash."""

    def __init__(self, total: int, bits: bytes | None = None) -> None:
        self.total = total
        self.bits = bytearray(bits) if bits is not None else bytearray((total + 7) // 8)
        if len(self.bits) != (total + 7) // 8:
            raise ValueError(f"bitmap: {len(self.bits)} bytes for {total} chunks")

    def __contains__(self, index: int) -> bool:
        return 0 <= index < self.total and bool(self.bits[index >> 3] & (1 << (index & 7)))

    def add(self, index: int) -> None:
        self.bits[index >> 3] |= 1 << (index & 7)

    def count(self) -> int:
        return sum(bin(b).count("1") for b in self.bits)

    def complete(self) -> bool:
        return self.next_missing() >= self.total

    def next_missing(self, start: int = 0) -> int:
        i = start
        while i < self.total:
            byte = self.bits[i >> 3]
            if byte == 0xFF and (i & 7) == 0:
                i += 8
                continue
            if not byte & (1 << (i & 7)):
                return i
            i += 1
        return self.total

    def ack(self) -> tuple[int, int]:
        """(lowest missing index, bit k set when chunk lowest+1+k has arrived)."""
        base = self.next_missing()
        mask = 0
        for k in range(ACK_MASK_BITS):
            if base + 1 + k in self:
                mask |= 1 << k
        return base, mask


def acked_indices(base: int, mask: int, total: int) -> list[int]:
    """The indices an ack (base, mask) says arrived, beyond 0..base-1."""
    return [base + 1 + k for k in range(ACK_MASK_BITS) if mask >> k & 1 and base + 1 + k < total]
