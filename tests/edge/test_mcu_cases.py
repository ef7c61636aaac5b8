"""Data-driven MCU cases: ``tests/edge/cases/mcu/<case>/input.yaml`` (a node's config,
the frame as it came off the line in hex, the time it arrived) -> ``expected.json``
(the samples the driver makes, or the error reason). Add a case by adding a folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edge.config import parse_config
from edge.drivers.mcu import readings_to_samples
from firmware_bridge.protocol import FrameError, MessageError, decode_frame, decode_message

CASES = Path(__file__).parent / "cases" / "mcu"


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_mcu_case(case: str) -> None:
    given = yaml.safe_load((CASES / case / "input.yaml").read_text(encoding="utf-8"))
    expected = json.loads((CASES / case / "expected.json").read_text(encoding="utf-8"))
    cfg = parse_config(
        {"gateway": {"id": "gw-01", "county": "533103"}, "mqtt": {"url": "mqtt://h"},
         "mcu": {"buses": [{"id": "rs485", "serial": "/dev/null"}], "nodes": [given["node"]]}}
    )  # fmt: skip
    try:
        frame = decode_frame(bytes.fromhex(given["wire"]))
        msg = decode_message(frame.type, frame.payload)
    except FrameError as exc:
        assert expected == {"error": exc.reason}
        return
    except MessageError as exc:
        assert expected == {"error": f"{exc.message}.{exc.field}"}
        return
    samples = readings_to_samples(cfg, cfg.mcu.nodes[0], msg, given["received_ms"])
    got = [{"device": s.device, "ts_ms": s.ts_ms, "values": s.values} for s in samples]
    assert got == expected["samples"]
