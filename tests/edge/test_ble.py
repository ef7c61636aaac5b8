"""BLE: the decoders against the formats' published vectors and the independent simulated
advertisers, `dehong ble decode`, and the driver's filtering, de-duplication and missing tags."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from dehong.cli import build_parser
from edge.config import parse_config
from edge.drivers.ble import Advertisement, BleDriver, is_new_seq, uuid16
from edge.drivers.ble_decode import (
    DecodeError,
    GenericDecoder,
    decode_eddystone,
    decode_ibeacon,
    decode_manufacturer,
)
from protocol.messages import EventType
from simulators.ble import EDDYSTONE_KEY, SimTag, SimulatedAir, eddystone_tlm, ibeacon, ruuvi_rawv2
from tests.edge.conftest import ListSink, wait_for

#: The test vectors of the RuuviTag data format 5 specification (docs.ruuvi.com).
RUUVI_VECTORS: dict[str, tuple[str, dict[str, float | None], int | None, str | None]] = {
    "valid": (
        "0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F",
        {"temperature": 24.3, "humidity": 53.49, "pressure": 100044.0, "acc_x": 0.004,
         "acc_y": -0.004, "acc_z": 1.036, "tx_power": 4.0, "battery_v": 2.977, "movement": 66.0},
        205, "CB:B8:33:4C:88:4F",
    ),
    "maximum": (
        "057FFFFFFEFFFE7FFF7FFF7FFFFFDEFEFFFECBB8334C884F",
        {"temperature": 163.835, "humidity": 163.835, "pressure": 115534.0, "acc_x": 32.767,
         "acc_y": 32.767, "acc_z": 32.767, "tx_power": 20.0, "battery_v": 3.646, "movement": 254.0},
        65534, "CB:B8:33:4C:88:4F",
    ),
    "minimum": (
        "058001000000008001800180010000000000CBB8334C884F",
        {"temperature": -163.835, "humidity": 0.0, "pressure": 50000.0, "acc_x": -32.767,
         "acc_y": -32.767, "acc_z": -32.767, "tx_power": -40.0, "battery_v": 1.6, "movement": 0.0},
        0, "CB:B8:33:4C:88:4F",
    ),
    "not available": (
        "058000FFFFFFFF800080008000FFFFFFFFFFFFFFFFFFFFFF",
        {m: None for m in ("temperature", "humidity", "pressure", "acc_x", "acc_y", "acc_z",
                           "tx_power", "battery_v", "movement")},
        None, None,
    ),
}  # fmt: skip


def ble_decode(*argv: str) -> int:
    args = build_parser().parse_args(["ble", "decode", *argv])
    return int(args.handler(args))


@pytest.mark.parametrize("name", list(RUUVI_VECTORS))
def test_ruuvi_spec_vectors_through_the_cli(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    hexdata, values, seq, mac = RUUVI_VECTORS[name]
    assert ble_decode("--company-id", "0x0499", hexdata) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["format"] == "ruuvi_rawv2"
    assert out["values"] == pytest.approx(values)
    assert out.get("seq") == seq and out.get("mac") == mac


def test_the_simulated_advertiser_produces_the_spec_bytes() -> None:
    valid = ruuvi_rawv2(temperature_c=24.3, humidity_pct=53.49, pressure_pa=100044,
                        acc_mg=(4, -4, 1036), battery_mv=2977, tx_dbm=4, movement=66, seq=205)  # fmt: skip
    assert valid.hex().upper() == RUUVI_VECTORS["valid"][0]
    na = ruuvi_rawv2(temperature_c=None, humidity_pct=None, pressure_pa=None,
                     acc_mg=(None, None, None), battery_mv=None, tx_dbm=None, movement=None,
                     seq=None, mac=None)  # fmt: skip
    assert na.hex().upper() == RUUVI_VECTORS["not available"][0]


def test_ibeacon_and_eddystone_round_trip() -> None:
    uuid = "FDA50693-A4E2-4FB1-AFCF-C6EB07647825"
    beacon = decode_ibeacon(ibeacon(uuid, 10, 65535, -59))
    assert beacon.beacon == {"uuid": uuid, "major": 10, "minor": 65535}
    assert beacon.values == {"tx_power": -59.0}
    tlm = decode_eddystone(eddystone_tlm(3000, -2.5, 100, 360.0))
    assert tlm.values == {
        "battery_v": 3.0,
        "temperature": -2.5,
        "adv_count": 100.0,
        "uptime_s": 360.0,
    }
    assert decode_eddystone(eddystone_tlm(0, None, 1, 0.1)).values["temperature"] is None


def test_clear_errors_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (("--company-id", "0x0499", "0512FC"), "payload is 3 bytes, expected 24"),
        (("--company-id", "0x0499", "0312FC"), "data format 3 is not supported"),
        (("--company-id", "0x1234", "00"), "no decoder for company id 0x1234"),
        (("--service-uuid", "0xFEAA", "10001122"), "frame type URL carries no readings"),
        (("--service-uuid", "0xFEAA", "2001" + "00" * 12), "encrypted eTLM"),
        (("--service-uuid", "0x180F", "64"), "no decoder for service UUID 0x180F"),
        (("--company-id", "0x0499", "zz"), "is not hex bytes"),
        (("--company-id", "0x004C", "0215AA"), "iBeacon: payload is 3 bytes"),
    ]
    for argv, message in cases:
        assert ble_decode(*argv) == 2, argv
        assert message in capsys.readouterr().err, argv


def test_generic_yaml_mapping() -> None:
    decoder = GenericDecoder.model_validate(
        {"name": "acme_probe", "company_id": 0x0999, "prefix": "A1", "seq_offset": 1,
         "fields": [{"metric": "temperature", "offset": 3, "type": "int16", "scale": 0.01, "na": -32768},
                    {"metric": "battery_v", "offset": 5, "type": "uint8", "scale": 0.02, "add": 1.0}]}
    )  # fmt: skip
    data = bytes.fromhex("A1" + "0700" + "6AFF" + "64")  # seq 7, -1.50 °C, 3.0 V
    decoded = decode_manufacturer(0x0999, data, [decoder])
    assert decoded.values == pytest.approx({"temperature": -1.5, "battery_v": 3.0})
    assert decoded.seq == 7
    with pytest.raises(DecodeError, match="does not start with A1"):
        decode_manufacturer(0x0999, bytes.fromhex("B1070000006400"), [decoder])
    na = decode_manufacturer(0x0999, bytes.fromhex("A1070000806400"), [decoder])
    assert na.values["temperature"] is None


def test_sequence_dedup_wraps_and_resets() -> None:
    assert is_new_seq(None, 5, False)
    assert not is_new_seq(5, 5, False)  # the same measurement advertised again
    assert is_new_seq(5, 6, False)
    assert is_new_seq(65535, 0, False)  # wrap
    assert is_new_seq(65530, 3, False)
    assert not is_new_seq(1000, 999, False)  # a stale repeat
    assert is_new_seq(40000, 2, False)  # reboot: starts again from a small number
    assert is_new_seq(40000, 30000, True)  # silent past the timeout: accept


def config(tmp_path: Path, **ble: Any) -> Any:
    return parse_config(
        {
            "gateway": {"id": "ble-gw", "county": "533123", "site": "ble-site", "state_dir": str(tmp_path)},
            "mqtt": {"url": "mqtt://127.0.0.1:1883"},
            "ble": {"enabled": True, "backend": "simulated", **ble},
        }
    )  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ruuvi_adv(mac: str, seq: int, rssi: int = -60) -> Advertisement:
    data = ruuvi_rawv2(temperature_c=2.0, humidity_pct=90.0, pressure_pa=100_000, seq=seq, mac=mac)
    return Advertisement(mac, rssi, {0x0499: data})


def test_driver_filters_dedups_and_reports_missing_tags(tmp_path: Path) -> None:
    clock = Clock()
    driver = BleDriver(
        config(tmp_path, allow_macs=["AA:00:00:00:00:01"], missing_timeout_s=60),
        backend=SimulatedAir([]), clock=clock,
    )  # fmt: skip
    sink = ListSink()
    driver._sink = sink
    driver.on_advertisement(ruuvi_adv("AA:00:00:00:00:01", 10))
    driver.on_advertisement(ruuvi_adv("AA:00:00:00:00:01", 10))  # repeat
    driver.on_advertisement(ruuvi_adv("BB:00:00:00:00:02", 1))  # not allowed
    driver.on_advertisement(
        Advertisement("CC:00:00:00:00:03", -80, {0x0006: b"\x01\x09"})
    )  # a phone
    assert len(sink.samples) == 1 and driver.duplicates == 1
    assert driver.not_allowed == 1 and driver.undecodable == 1
    sample = sink.samples[0]
    assert sample.device == "AA:00:00:00:00:01" and sample.kind == "ble_tag"
    assert sample.values["rssi"] == -60.0 and sample.values["battery_v"] == 3.0
    assert sample.site == "ble-site"
    clock.now += 61
    assert driver.check_missing() is None
    assert sink.event_types() == [(EventType.DEVICE_DOWN, "AA:00:00:00:00:01")]
    driver.on_advertisement(ruuvi_adv("AA:00:00:00:00:01", 3))  # rebooted while away
    assert len(sink.samples) == 2
    assert sink.event_types()[-1] == (EventType.DEVICE_UP, "AA:00:00:00:00:01")
    assert driver.status() == {"AA:00:00:00:00:01": "up"}


def test_service_data_uuid_keys() -> None:
    assert uuid16(EDDYSTONE_KEY) == 0xFEAA and uuid16("feaa") == 0xFEAA
    assert uuid16("6e400001-b5a3-f393-e0a9-e50e24dcca9e") is None


async def test_driver_with_the_simulated_air_end_to_end(tmp_path: Path) -> None:
    tags = [SimTag("C0:FF:EE:00:00:01"), SimTag("C0:FF:EE:00:00:02", kind="eddystone"),
            SimTag("C0:FF:EE:00:00:03", kind="ibeacon", minor=7)]  # fmt: skip
    air = SimulatedAir(tags, interval_s=0.05)
    driver = BleDriver(config(tmp_path, min_interval_s=0, missing_timeout_s=0.3), backend=air)
    sink = ListSink()
    await driver.start(sink)
    try:
        await wait_for(lambda: tags[0].measurements >= 5, 5, "five measurements")
        tags[0].silent = True
        await wait_for(
            lambda: (EventType.DEVICE_DOWN, "C0:FF:EE:00:00:01") in sink.event_types(),
            3, "the silent tag reported missing",
        )  # fmt: skip
    finally:
        await driver.stop()
    ruuvi = [s for s in sink.samples if s.device == "C0:FF:EE:00:00:01"]
    seqs = [int(s.values["movement"] or 0) for s in ruuvi]
    assert len(ruuvi) >= 5 and len(seqs) == len(ruuvi)
    assert driver.duplicates >= len(ruuvi)  # every measurement was advertised twice, kept once
    devices = {s.device for s in sink.samples}
    assert "C0:FF:EE:00:00:02" in devices
    assert "FDA50693-A4E2-4FB1-AFCF-C6EB07647825.1.7" in devices
    await asyncio.sleep(0)
