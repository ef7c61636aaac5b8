"""The shared vectors (firmware_bridge/protocol/vectors.json) through the Python codec
and through the C reference built with gcc (firmware_bridge/c)."""

from __future__ import annotations

import json

import pytest

from firmware_bridge.protocol import (
    FrameDecoder,
    FrameError,
    Readings,
    cobs,
    crc16_ccitt_false,
    crc32,
    decode_frame,
    decode_message,
    verify_auth,
)
from firmware_bridge.protocol.vectors import PATH, build_vectors
from tests.firmware_bridge.conftest import CTool

VECTORS = json.loads(PATH.read_text(encoding="utf-8"))
C_ERRORS = {
    "cobs": -1,
    "too_short": -2,
    "too_long": -3,
    "crc": -4,
    "version": -5,
    "flags": -6,
    "auth_trailer": -7,
}


def test_vector_file_is_current() -> None:
    """Regenerate with: python -m firmware_bridge.protocol.vectors > firmware_bridge/protocol/vectors.json"""
    assert build_vectors() == VECTORS


def test_python_against_vectors() -> None:
    for v in VECTORS["crc16_ccitt_false"]:
        assert f"{crc16_ccitt_false(bytes.fromhex(v['data'])):04x}" == v["crc"]
    for v in VECTORS["crc32"]:
        assert f"{crc32(bytes.fromhex(v['data'])):08x}" == v["crc"]
    for v in VECTORS["cobs"]:
        assert cobs.encode(bytes.fromhex(v["data"])).hex() == v["encoded"]
    for v in VECTORS["messages"]:
        frame = decode_frame(bytes.fromhex(v["wire"]))
        assert (frame.type, frame.node_id, frame.seq, frame.flags) == (
            v["type"], v["node_id"], v["seq"], v["flags"],
        )  # fmt: skip
        assert frame.payload.hex() == v["payload"]
        decode_message(frame.type, frame.payload)
    key = bytes.fromhex(VECTORS["auth"]["key"])
    for v in VECTORS["auth"]["frames"]:
        frame = decode_frame(bytes.fromhex(v["wire"]))
        assert frame.auth_time == VECTORS["auth"]["auth_time"] and verify_auth(frame, key)
    for v in VECTORS["bad_frames"]:
        with pytest.raises(FrameError) as err:
            decode_frame(bytes.fromhex(v["wire"]))
        assert err.value.reason == v["reason"]


def test_c_checksums_and_cobs(c_tool: CTool) -> None:
    for v in VECTORS["crc16_ccitt_false"]:
        assert c_tool.ask(f"crc16 {v['data']}") == v["crc"]
    for v in VECTORS["crc32"]:
        assert c_tool.ask(f"crc32 {v['data']}") == v["crc"]
    for v in VECTORS["cobs"]:
        assert c_tool.ask(f"cobs {v['data']}") == v["encoded"]
        assert c_tool.ask(f"uncobs {v['encoded']}") == v["data"]


def test_c_encodes_and_decodes_every_message_frame(c_tool: CTool) -> None:
    for v in VECTORS["messages"]:
        payload = v["payload"] or "-"
        enc = f"enc {v['type']} {v['node_id']} {v['seq']} {v['flags']} {payload}"
        assert c_tool.ask(enc) == v["wire"], v["name"]
        assert c_tool.ask(f"dec {v['wire']}") == (
            f"ok {v['type']} {v['node_id']} {v['seq']} {v['flags']} {payload}"
        ), v["name"]
    for v in VECTORS["auth"]["frames"]:
        got = c_tool.ask(f"dec {v['wire']}").split()
        assert got[:6] == [
            "ok",
            str(v["type"]),
            str(v["node_id"]),
            str(v["seq"]),
            str(v["flags"]),
            v["payload"],
        ]
        assert int(got[6]) == VECTORS["auth"]["auth_time"]
        enc = f"enc {v['type']} {v['node_id']} {v['seq']} {v['flags']} {v['payload']} {got[6]} {got[7]}"
        assert c_tool.ask(enc) == v["wire"]


def test_c_refuses_bad_frames_for_the_same_reasons(c_tool: CTool) -> None:
    for v in VECTORS["bad_frames"]:
        assert c_tool.ask(f"dec {v['wire']}") == f"err {C_ERRORS[v['reason']]}", v["reason"]
    stream = "".join(v["wire"] for v in VECTORS["bad_frames"]) + VECTORS["messages"][0]["wire"]
    lines = c_tool.ask_many(f"stream {stream}")
    py = FrameDecoder()
    assert len(py.feed(bytes.fromhex(stream))) == 1
    # one vector has a 0x00 inside, so on a stream it is two bad frames
    assert py.bad_total == len(VECTORS["bad_frames"]) + 1
    assert lines[-1] == f"end 1 {py.bad_total}"
    # the encoder refuses a frame over 256 bytes instead of truncating it
    assert c_tool.ask(f"enc 16 1 1 0 {'00' * 248}") == "err -3"
    assert c_tool.ask(f"enc 16 1 1 0 {'00' * 247}").endswith("00")


def test_c_readings_writer_and_poll_parser_match_python(c_tool: CTool) -> None:
    v = next(m for m in VECTORS["messages"] if m["name"] == "readings")
    msg = Readings.decode(bytes.fromhex(v["payload"]))
    items = " ".join(
        f"{r.channel}:{r.vtype}:{r.offset_ms}:{r.value if r.vtype == 6 else int(r.value)}"
        for r in msg.readings
    )
    assert c_tool.ask(f"readings {msg.node_ms} {msg.base_ms} {items}") == v["payload"]
    for name in ("poll", "poll_with_ack"):
        p = next(m for m in VECTORS["messages"] if m["name"] == name)
        f = p["fields"]
        has = 0 if f["ack_seq"] is None else 1
        assert c_tool.ask(f"poll {p['payload']}") == f"{f['want']} {has} {f['ack_seq'] or 0}"
    assert c_tool.ask("poll 00000001") == "err -8"
