"""MQTT wire arithmetic: how many bytes a message really costs on the link.

Counts MQTT 3.1.1 framing only; used by the edge, the wire benchmark and the tests.
"""

from __future__ import annotations


def remaining_length_size(length: int) -> int:
    """Bytes of the variable-length "remaining length" field (1-4)."""
    if length < 0 or length > 268_435_455:
        raise ValueError(f"MQTT remaining length {length} is out of range 0..268435455")
    size = 1
    while length >= 128:
        length //= 128
        size += 1
    return size


def publish_packet_size(topic: str, payload: bytes, qos: int = 1) -> int:
    """Size of a whole MQTT 3.1.1 PUBLISH packet.

    Fixed header byte + remaining length + 2-byte topic length + topic
    + 2-byte packet id (QoS 1 and 2 only) + payload.
    """
    if qos not in (0, 1, 2):
        raise ValueError(f"qos must be 0, 1 or 2, got {qos}")
    remaining = 2 + len(topic.encode("utf-8")) + (2 if qos else 0) + len(payload)
    return 1 + remaining_length_size(remaining) + remaining
