"""Data-driven Modbus cases: ``tests/edge/cases/modbus/<case>/input.yaml`` (register map,
max_gap, register and bit dumps per function) -> ``expected.yaml`` (the requests the
driver plans, and the decoded values). Add a case by adding a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.config import RegisterSpec
from edge.drivers.modbus import decode_block, plan_reads

CASES = Path(__file__).parent / "cases" / "modbus"


def dump(raw: Any) -> dict[int, Any]:
    """A dump as ``{address: value}``; a list starts at address 0."""
    if isinstance(raw, list):
        return dict(enumerate(raw))
    return {int(k): v for k, v in (raw or {}).items()}


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_modbus_case(case: str) -> None:
    given = yaml.safe_load((CASES / case / "input.yaml").read_text())
    expected = yaml.safe_load((CASES / case / "expected.yaml").read_text())
    specs = [RegisterSpec.model_validate(r) for r in given["registers"]]
    blocks = plan_reads(specs, given.get("max_gap", 0))
    assert [[b.function, b.address, b.count] for b in blocks] == expected["requests"]
    values: dict[str, float | None] = {}
    for block in blocks:
        memory = dump(given.get(block.function))
        data = [memory.get(block.address + k, 0) for k in range(block.count)]
        values.update(decode_block(block, data))
    assert values == pytest.approx(expected["values"])
