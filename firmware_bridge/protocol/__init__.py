"""The node protocol: COBS framing with CRC-16 and the message types (PROTOCOL.md).

Typical use::

    from firmware_bridge.protocol import Frame, encode_frame, decode_frame, Readings
    wire = encode_frame(Frame(Readings.TYPE, node_id=7, seq=1, flags=FROM_NODE,
                              payload=Readings(...).encode()))
    frame = decode_frame(wire); msg = decode_message(frame.type, frame.payload)

or `build(msg, node_id, seq, flags)` / `message_of(frame)` for the two steps at once.
"""

from __future__ import annotations

from firmware_bridge.protocol.cobs import CobsError
from firmware_bridge.protocol.crc import crc16_ccitt_false, crc32
from firmware_bridge.protocol.frame import (
    ACK_REQ,
    AUTH,
    BROADCAST,
    FROM_NODE,
    GATEWAY,
    HEADER_SIZE,
    MAX_FRAME,
    MAX_PAYLOAD,
    MAX_PAYLOAD_AUTH,
    MORE,
    PROTOCOL_VERSION,
    RETRY,
    Frame,
    FrameDecoder,
    FrameError,
    FrameTooLarge,
    decode_frame,
    encode_frame,
    frame_bytes,
    parse_frame,
    verify_auth,
)
from firmware_bridge.protocol.messages import (
    MAX_CHUNK_DATA,
    MESSAGES,
    Ack,
    BootReason,
    BootReport,
    BootState,
    Capability,
    ConfigGet,
    ConfigSet,
    ConfigValue,
    Event,
    EventCode,
    FwVersion,
    Hello,
    Message,
    MessageError,
    MsgType,
    OfferFlags,
    OtaChunk,
    OtaChunkAck,
    OtaCommit,
    OtaOffer,
    Poll,
    PollWant,
    Reading,
    Readings,
    Status,
    TimeSync,
    VType,
    decode_message,
)


def build(
    msg: Message,
    node_id: int,
    seq: int,
    flags: int = 0,
    key: bytes | None = None,
    auth_time: int | None = None,
) -> bytes:
    """Encode a message into a frame on the line (COBS + delimiter)."""
    return encode_frame(Frame(msg.TYPE, node_id, seq, flags, msg.encode()), key, auth_time)


def message_of(frame: Frame) -> Message:
    return decode_message(frame.type, frame.payload)


__all__ = [
    "ACK_REQ",
    "AUTH",
    "BROADCAST",
    "FROM_NODE",
    "GATEWAY",
    "HEADER_SIZE",
    "MAX_CHUNK_DATA",
    "MAX_FRAME",
    "MAX_PAYLOAD",
    "MAX_PAYLOAD_AUTH",
    "MESSAGES",
    "MORE",
    "PROTOCOL_VERSION",
    "RETRY",
    "Ack",
    "BootReason",
    "BootReport",
    "BootState",
    "Capability",
    "CobsError",
    "ConfigGet",
    "ConfigSet",
    "ConfigValue",
    "Event",
    "EventCode",
    "Frame",
    "FrameDecoder",
    "FrameError",
    "FrameTooLarge",
    "FwVersion",
    "Hello",
    "Message",
    "MessageError",
    "MsgType",
    "OfferFlags",
    "OtaChunk",
    "OtaChunkAck",
    "OtaCommit",
    "OtaOffer",
    "Poll",
    "PollWant",
    "Reading",
    "Readings",
    "Status",
    "TimeSync",
    "VType",
    "build",
    "crc16_ccitt_false",
    "crc32",
    "decode_frame",
    "decode_message",
    "encode_frame",
    "frame_bytes",
    "message_of",
    "parse_frame",
    "verify_auth",
]
