"""Gateway YAML: the samples load, errors name their location, secrets come from the right place."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from edge import cli
from edge.config import PASSWORD_ENV, ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "edge" / "gateway.sample.yaml"


def sample_data() -> dict:
    return yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))


def test_sample_configs_load() -> None:
    config = load_config(SAMPLE)
    assert config.gateway.id == "mangshi-coop-01"
    assert config.batch.interval_s == 60 and config.batch.ack_timeout_s == 30
    devices = config.modbus.hosts[0].devices
    assert [d.id for d in devices] == ["room-0", "room-1"]
    assert config.device_id("room-1") == "mangshi-coop-01.room-1"
    assert devices[0].registers[2].value_type == "bool"
    assert devices[0].registers[0].value_type == "int16"
    driver_sample = load_config(ROOT / "edge" / "drivers" / "modbus.sample.yaml")
    assert driver_sample.modbus.hosts


def test_errors_name_the_yaml_location(tmp_path: Path) -> None:
    data = sample_data()
    data["modbus"]["hosts"][0]["devices"][1]["registers"][2]["type"] = "int16"  # a coil
    data["modbus"]["hosts"][0]["devices"][0]["registers"][0]["address"] = -1
    data["gateway"]["county"] = "999999"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    errors = info.value.errors
    assert any(e.startswith("gateway.county: ") and "GB/T 2260" in e for e in errors), errors
    assert any(e.startswith("modbus.hosts[0].devices[0].registers[0].address: ") for e in errors), (
        errors
    )
    assert any(
        e.startswith("modbus.hosts[0].devices[1].registers[2].type: ") and "bool" in e
        for e in errors
    ), errors
    assert str(path) in str(info.value)


def test_duplicate_devices_and_metrics_are_located() -> None:
    data = sample_data()
    data["modbus"]["hosts"][0]["devices"][1]["id"] = "room-0"
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert info.value.errors[0].startswith(
        "modbus.hosts[0].devices[1].id: 'room-0' is already used"
    )
    data = sample_data()
    data["modbus"]["hosts"][0]["devices"][0]["registers"][1]["metric"] = "temperature"
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert info.value.errors[0].startswith("modbus.hosts[0].devices[0].registers[1].metric: ")


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("gateway:\n  id: x\n  county: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+: invalid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "missing.yaml")


def test_broker_url_and_password_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    data = sample_data()
    data["mqtt"] = {"url": "mqtt://gw-user:url%2Fpass@broker.example:1884"}
    mqtt = parse_config(data).mqtt
    assert mqtt.endpoint() == ("broker.example", 1884, False)
    assert mqtt.credentials() == ("gw-user", "url/pass")
    secret = tmp_path / "pw"
    secret.write_text("from-file\n", encoding="utf-8")
    data["mqtt"] = {"url": "mqtts://broker.example", "username": "u", "password_file": str(secret)}
    mqtt = parse_config(data).mqtt
    assert mqtt.endpoint() == ("broker.example", 8883, True)
    assert mqtt.credentials() == ("u", "from-file")
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    assert mqtt.credentials() == ("u", "from-env")
    data["mqtt"] = {"host": "10.0.0.1", "port": 1883}
    assert parse_config(data).mqtt.endpoint() == ("10.0.0.1", 1883, False)
    data["mqtt"] = {"url": "http://x"}
    with pytest.raises(ConfigError, match=r"mqtt\.url: broker URL 'http://x': scheme must be mqtt"):
        parse_config(data)


def test_config_hash_is_stable_and_ignores_the_password() -> None:
    a, b = sample_data(), sample_data()
    b["mqtt"]["password"] = "secret"
    assert parse_config(a).canonical_hash() == parse_config(b).canonical_hash()
    b["batch"]["interval_s"] = 30
    assert parse_config(a).canonical_hash() != parse_config(b).canonical_hash()


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    cli.register(sub)
    args = parser.parse_args(argv)
    return args.handler(args)


def test_check_config_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["edge", "check-config", str(SAMPLE)]) == 0
    assert capsys.readouterr().out.startswith("OK: gateway mangshi-coop-01")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "gateway: {id: X, county: '533103'}\nmqtt: {url: 'mqtt://h'}\n", encoding="utf-8"
    )
    assert run_cli(["edge", "check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "gateway.id: invalid gateway id 'X'" in err
