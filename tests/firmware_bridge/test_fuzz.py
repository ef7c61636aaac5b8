"""Fuzzing the frame decoders: hypothesis feeds random and mutated frames to the
Python decoder and, line by line, to the C reference (built with ASan/UBSan when
the compiler has them). Nothing crashes, every bad frame is counted, and both
decoders agree on every input (same fields, or the same reason)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.protocol import (
    MESSAGES,
    FrameDecoder,
    FrameError,
    MessageError,
    cobs,
    decode_frame,
    decode_message,
)
from firmware_bridge.protocol.vectors import PATH
from tests.firmware_bridge.conftest import CTool

VECTORS = json.loads(PATH.read_text(encoding="utf-8"))
GOOD = [bytes.fromhex(v["wire"]) for v in VECTORS["messages"] + VECTORS["auth"]["frames"]]
C_ERRORS = {"cobs": -1, "too_short": -2, "too_long": -3, "crc": -4, "version": -5, "flags": -6,
            "auth_trailer": -7}  # fmt: skip
FAST = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def mutated(draw) -> bytes:
    wire = bytearray(draw(st.sampled_from(GOOD)))
    how = draw(st.sampled_from(["flip", "cut", "insert", "raw", "recobs"]))
    if how == "flip":
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(wire) - 1))
            wire[i] ^= 1 << draw(st.integers(0, 7))
    elif how == "cut":
        wire = wire[: draw(st.integers(0, len(wire)))]
    elif how == "insert":
        i = draw(st.integers(0, len(wire)))
        wire[i:i] = draw(st.binary(min_size=1, max_size=8))
    elif how == "raw":
        wire = bytearray(draw(st.binary(max_size=300)))
    else:  # valid COBS around a damaged frame: reaches the CRC and header checks
        raw = bytearray(cobs.decode(bytes(wire[:-1])))
        i = draw(st.integers(0, len(raw) - 1))
        raw[i] = draw(st.integers(0, 255))
        wire = bytearray(cobs.encode(bytes(raw)) + b"\x00")
    return bytes(wire)


def python_answer(wire: bytes) -> str:
    try:
        f = decode_frame(wire)
    except FrameError as exc:
        return f"err {C_ERRORS[exc.reason]}"
    out = f"ok {f.type} {f.node_id} {f.seq} {f.flags} {f.payload.hex() or '-'}"
    if f.auth_time is not None:
        out += f" {f.auth_time} {f.auth_tag.hex()}"
    return out


@FAST
@given(st.lists(st.one_of(mutated(), st.binary(max_size=64)), max_size=12))
def test_python_stream_decoder_never_raises_and_counts(chunks: list[bytes]) -> None:
    dec = FrameDecoder()
    got = []
    for chunk in chunks:
        got += dec.feed(chunk)
    got += dec.feed(b"\x00")
    assert dec.frames == len(got)
    for frame in got:  # a frame that passed the CRC still goes through payload checks
        try:
            decode_message(frame.type, frame.payload)
        except MessageError:
            pass
        assert frame.type in MESSAGES or frame.type not in MESSAGES


@FAST
@given(st.integers(0, 255), st.binary(max_size=260))
def test_python_message_decoders_raise_only_message_error(mtype: int, payload: bytes) -> None:
    try:
        decode_message(mtype, payload)
    except MessageError as exc:
        assert exc.field and exc.reason


@FAST
@given(mutated())
def test_c_and_python_decoders_agree(c_tool: CTool, wire: bytes) -> None:
    body = wire.hex() or ""
    if not body:
        return  # the C tool's line protocol needs one byte at least
    assert c_tool.ask(f"dec {body}") == python_answer(wire)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(mutated(), min_size=1, max_size=6))
def test_c_stream_counts_every_bad_frame(c_tool: CTool, frames: list[bytes]) -> None:
    stream = b"".join(frames)
    py = FrameDecoder()
    good = py.feed(stream)
    lines = c_tool.ask_many(f"stream {stream.hex()}")
    assert lines[-1] == f"end {len(good)} {py.bad_total}"
    assert [line.split()[1:] for line in lines[:-1]] == [
        [str(f.type), str(f.node_id), str(f.seq)] for f in good
    ]
