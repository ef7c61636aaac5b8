"""Hypothesis: every BLE decoder and the gateway's YAML config answer any input with a
result or a clear error, never a crash."""

from __future__ import annotations

import math
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config import ConfigError, parse_config
from edge.drivers.ble_decode import (
    DecodeError,
    GenericDecoder,
    decode_eddystone,
    decode_ibeacon,
    decode_manufacturer,
    decode_ruuvi,
    decode_service,
)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def finite_or_none(values: dict[str, float | None]) -> bool:
    return all(v is None or (isinstance(v, float) and math.isfinite(v)) for v in values.values())


@FAST
@given(st.binary(max_size=40))
def test_builtin_decoders_never_crash(data: bytes) -> None:
    for decoder in (decode_ruuvi, decode_ibeacon, decode_eddystone):
        try:
            decoded = decoder(data)
        except DecodeError as exc:
            assert str(exc)
        else:
            assert finite_or_none(decoded.values)


@FAST
@given(st.integers(0, 0xFFFF), st.binary(max_size=40))
def test_dispatch_never_crashes(company: int, data: bytes) -> None:
    for call in (lambda: decode_manufacturer(company, data), lambda: decode_service(company, data)):
        try:
            call()
        except DecodeError as exc:
            assert str(exc)


@FAST
@given(st.binary(min_size=24, max_size=24).map(lambda b: b"\x05" + b[1:]))
def test_every_24_byte_rawv2_payload_decodes(data: bytes) -> None:
    decoded = decode_ruuvi(data)
    assert finite_or_none(decoded.values) and len(decoded.values) == 9


field = st.fixed_dictionaries(
    {"metric": st.sampled_from(["t", "rh", "v", "x_1"]), "offset": st.integers(0, 30),
     "type": st.sampled_from(["int8", "uint8", "int16", "uint16", "int32", "uint32", "float32"]),
     "endian": st.sampled_from(["little", "big"])},
    optional={"scale": st.floats(allow_nan=False, allow_infinity=False, width=32),
              "na": st.integers(-(2**31), 2**32)},
)  # fmt: skip


@FAST
@given(
    st.lists(field, min_size=1, max_size=4, unique_by=lambda f: f["metric"]), st.binary(max_size=40)
)
def test_generic_mappings_never_crash(fields: list[dict[str, Any]], data: bytes) -> None:
    decoder = GenericDecoder.model_validate({"name": "fuzz", "company_id": 1, "fields": fields})
    try:
        decoded = decoder.decode(data)
    except DecodeError as exc:
        assert "fuzz" in str(exc)
    else:
        assert finite_or_none(decoded.values)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)  # fmt: skip
sections = st.fixed_dictionaries(
    {},
    optional={
        "gateway": st.fixed_dictionaries({"id": st.text(max_size=10), "county": st.sampled_from(["533103", "999999", 5])}) | yaml_values,
        "mqtt": st.fixed_dictionaries({}, optional={"url": st.text(max_size=20), "port": yaml_values}) | yaml_values,
        "modbus": st.fixed_dictionaries({"hosts": st.lists(st.dictionaries(st.sampled_from(["host", "serial", "port", "devices", "timeout_s"]), yaml_values, max_size=4), max_size=2)}),
        "ble": st.dictionaries(st.sampled_from(["enabled", "allow_macs", "decoders", "tags", "min_interval_s"]), yaml_values, max_size=3),
        "buffer": st.dictionaries(st.sampled_from(["commit_interval_ms", "max_bytes", "thin_keep_every"]), yaml_values, max_size=3),
        "rules": st.lists(st.dictionaries(st.sampled_from(["name", "device", "metric", "above", "below", "clear"]), yaml_values, max_size=4), max_size=2),
    },
)  # fmt: skip


@FAST
@given(sections | yaml_values)
def test_config_gives_located_errors_never_a_crash(data: Any) -> None:
    text = yaml.safe_dump(data)  # through YAML, as a file would be
    try:
        parse_config(yaml.safe_load(text), "fuzz.yaml")
    except ConfigError as exc:
        assert exc.errors and all(isinstance(line, str) and line for line in exc.errors)
