"""The node protocol's framing and message types (firmware_bridge/protocol)."""

from __future__ import annotations

import pytest

from firmware_bridge.protocol import (
    ACK_REQ,
    AUTH,
    FROM_NODE,
    MAX_FRAME,
    MAX_PAYLOAD,
    MESSAGES,
    Ack,
    BootReason,
    BootReport,
    BootState,
    ConfigGet,
    ConfigSet,
    ConfigValue,
    Event,
    Frame,
    FrameDecoder,
    FrameError,
    FrameTooLarge,
    FwVersion,
    Hello,
    MessageError,
    OtaChunk,
    OtaChunkAck,
    OtaCommit,
    OtaOffer,
    Poll,
    Reading,
    Readings,
    Status,
    TimeSync,
    VType,
    build,
    cobs,
    crc16_ccitt_false,
    crc32,
    decode_frame,
    encode_frame,
    frame_bytes,
    message_of,
    verify_auth,
)
from firmware_bridge.protocol.dedup import Backoff, Deduplicator, ReplayGuard

SAMPLES = [
    Hello(FwVersion(1, 2, 3), FwVersion(0, 9, 0), 0x1F, 1, "esp32c3-door-v2"),
    Poll(),
    Poll(0, 0xFFFE),
    Ack(0x1234, Status.OK),
    Readings(
        1000,
        900,
        (
            Reading(0, VType.BOOL, True, 0),
            Reading(1, VType.I16, -250, 10),
            Reading(2, VType.F32, 1.5, 20),
            Reading(3, VType.U32, 4_000_000_000, 30),
        ),
    ),
    Event(5000, 4900, 1, 7, "door open"),
    ConfigGet(1),
    ConfigSet(2, VType.STR, "冷库 1"),
    ConfigValue(1, Status.OK, VType.U32, 60_000),
    ConfigValue(9, Status.UNKNOWN_KEY),
    TimeSync(1_780_000_000_000, 123),
    OtaOffer(7, FwVersion(1, 3, 0), 65536, 200, bytes(range(32)), 120, bytes(32), 2),
    OtaChunk(7, 400, b"\x00\x01" * 100),
    OtaChunkAck(7, 600),
    OtaCommit(7, bytes(range(32)), 2),
    BootReport(1, FwVersion(1, 3, 0), BootState.TRIAL, BootReason.OTA_TRIAL, 1, FwVersion(1, 2, 3)),
]


def test_crc_check_values() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc32(b"123456789") == 0xCBF43926


@pytest.mark.parametrize(
    ("raw", "enc"),
    [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
        (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),
        (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    ],
)
def test_cobs_known_vectors(raw: bytes, enc: bytes) -> None:
    assert cobs.encode(raw) == enc
    assert cobs.decode(enc) == raw


@pytest.mark.parametrize("bad", [b"", b"\x00", b"\x05\x11", b"\x03\x00\x01"])
def test_cobs_refuses_malformed(bad: bytes) -> None:
    with pytest.raises(cobs.CobsError):
        cobs.decode(bad)


def test_every_type_has_a_sample() -> None:
    assert {type(m) for m in SAMPLES} == set(MESSAGES.values())


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_message_round_trip(msg) -> None:
    wire = build(msg, node_id=0x0102, seq=77, flags=FROM_NODE | ACK_REQ)
    assert wire.endswith(b"\x00") and b"\x00" not in wire[:-1]
    frame = decode_frame(wire)
    assert (frame.type, frame.node_id, frame.seq, frame.flags) == (msg.TYPE, 0x0102, 77, 0x11)
    back = message_of(frame)
    if isinstance(msg, OtaChunk):
        assert back.crc32 == crc32(msg.data) and back.crc_ok() and back.data == msg.data
    else:
        assert back == msg


def test_encoder_refuses_oversized_frame_and_accepts_max() -> None:
    ok = Frame(0x10, 1, 1, 0, bytes(MAX_PAYLOAD))
    assert len(frame_bytes(ok)) == MAX_FRAME
    with pytest.raises(FrameTooLarge):
        frame_bytes(Frame(0x10, 1, 1, 0, bytes(MAX_PAYLOAD + 1)))
    with pytest.raises(FrameTooLarge):
        frame_bytes(ok, key=b"k" * 32, auth_time=1)  # the auth trailer takes 20 bytes


def test_decoder_names_the_reason() -> None:
    good = encode_frame(Frame(0x03, 5, 9, 0, Ack(1).encode()))
    raw = bytearray(cobs.decode(good[:-1]))
    raw[-1] ^= 1
    with pytest.raises(FrameError) as err:
        decode_frame(cobs.encode(bytes(raw)))
    assert err.value.reason == "crc"
    with pytest.raises(FrameError) as err:
        decode_frame(b"\x02\x01")
    assert err.value.reason == "too_short"
    with pytest.raises(FrameError) as err:
        decode_frame(b"\x05\x01")
    assert err.value.reason == "cobs"


def test_auth_trailer_signs_and_verifies() -> None:
    key = bytes(range(32))
    wire = build(Ack(3), 9, 10, FROM_NODE, key=key, auth_time=1_780_000_000)
    frame = decode_frame(wire)
    assert frame.flags & AUTH and frame.auth_time == 1_780_000_000
    assert message_of(frame) == Ack(3)
    assert verify_auth(frame, key)
    assert not verify_auth(frame, bytes(32))
    assert not verify_auth(decode_frame(build(Ack(3), 9, 10, FROM_NODE)), key)


def test_stream_decoder_counts_bad_frames() -> None:
    dec = FrameDecoder()
    good = build(Poll(ack_seq=4), 1, 1)
    stream = b"\x00" + good + b"\x05\x01\x00" + b"\x00\x00" + good[:4] + b"\x00" + good
    frames = dec.feed(stream[:7]) + dec.feed(stream[7:])
    assert len(frames) == 2 and dec.frames == 2
    assert dec.bad_total == 2
    # a delimiter-free run longer than any frame is dropped, then counted once
    assert dec.feed(b"\x01" * 2000 + b"\x00" + good) == [decode_frame(good)]
    assert dec.bad["too_long"] == 1


@pytest.mark.parametrize(
    ("msg", "field"),
    [
        (Readings(0, 0, (Reading(0, VType.I16, 70000),)), "readings[0].value"),
        (Readings(0, 0, (Reading(300, VType.I16, 1),)), "readings[0].channel"),
        (Hello(FwVersion(1, 0, 0), FwVersion(1, 0, 0), 0, 2, "x"), "active_slot"),
        (Event(0, 0, 1, 0, "x" * 65), "text"),
        (OtaChunk(1, 0, b""), "data"),
    ],
)
def test_encode_errors_name_the_field(msg, field: str) -> None:
    with pytest.raises(MessageError) as err:
        msg.encode()
    assert err.value.field == field


def test_decode_errors_name_the_field() -> None:
    payload = Readings(0, 0, (Reading(0, VType.I16, 1), Reading(1, VType.I16, 2))).encode()
    with pytest.raises(MessageError) as err:
        Readings.decode(payload[:-1])
    assert err.value.field == "readings[1].value"
    with pytest.raises(MessageError) as err:
        Ack.decode(Ack(1).encode() + b"\x00")
    assert err.value.field == "payload"


def test_dedup_window_and_replay_guard() -> None:
    d = Deduplicator(window=4)
    assert d.accept(1, 10) and not d.accept(1, 10) and d.accept(2, 10)
    for s in range(11, 16):
        assert d.accept(1, s)
    assert d.accept(1, 10)  # left the window
    g = ReplayGuard(window_s=30)
    assert g.check(1, 5, 1000, 1010) is None
    assert g.check(1, 5, 1000, 1010) == "replay"
    assert g.check(1, 6, 1000, 1031) == "stale"
    delays = Backoff(base_s=0.1, jitter=0).delays()
    assert delays == [0.1, 0.2, 0.4, 0.8]
