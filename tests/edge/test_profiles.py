"""Commodity profiles on the gateway: the ``profiles`` section the cloud pushes becomes
local alarms (fire after the single-excursion limit, clear back inside the range), is
validated against the config's devices and metrics, and arrives with ``set-config``
``args.sections`` without touching the hand-written rules or restarting a driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.config import ConfigError, parse_config
from edge.drivers.base import Sample
from edge.gateway import Gateway
from edge.rules import RuleEngine
from protocol.messages import CommandMessage, EventMessage, EventType
from tests.edge.conftest import make_config

LYCHEE: dict[str, Any] = {
    "id": "profile-2",
    "name": "荔枝 lychee",
    "device": "room-0",
    "temperature": {"metric": "temperature", "min": 0.0, "max": 2.0},
    "humidity": {"metric": "humidity", "min": 90.0, "max": 95.0},
    "single_excursion_s": 60,
}
HAND_RULE = {"name": "door-open", "device": "room-1", "metric": "door", "above": 0.5}


def data(tmp_path: Path, **sections: Any) -> dict[str, Any]:
    base = make_config(tmp_path, 5020, rooms=2).model_dump(mode="json", exclude_none=True)
    base.update(sections)
    return base


def errors_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, "t")
    return exc.value.errors


def test_profiles_are_checked_against_the_configs_devices_and_metrics(tmp_path: Path) -> None:
    cfg = parse_config(data(tmp_path, profiles=[LYCHEE]))
    assert [r.name for r in cfg.profiles[0].rules()] == [
        "profile-2-temp-high", "profile-2-temp-low", "profile-2-rh-high", "profile-2-rh-low",
    ]  # fmt: skip
    cases = [
        ({**LYCHEE, "device": "room-9"}, "profiles[0].device: no Modbus device 'room-9'"),
        (
            {**LYCHEE, "temperature": {"metric": "temp_c", "min": 0, "max": 2}},
            "profiles[0].temperature.metric: 'room-0' has no metric 'temp_c'",
        ),
        (
            {**LYCHEE, "temperature": {"metric": "temperature", "min": 3, "max": 2}},
            "profiles[0].temperature.min: 3.0 must be below max",
        ),
        ({**LYCHEE, "id": "Profile 2"}, "profiles[0].id"),
        ({**LYCHEE, "single_excursion_s": -1}, "profiles[0].single_excursion_s"),
    ]
    for profile, says in cases:
        found = errors_of(data(tmp_path, profiles=[profile]))
        assert any(says in e for e in found), (says, found)
    found = errors_of(data(tmp_path, profiles=[LYCHEE, {**LYCHEE, "id": "profile-3"}]))
    assert any("profiles[1].device: 'room-0' already has profiles[0]" in e for e in found), found


def test_a_profile_alarms_after_its_single_excursion_limit_and_clears_inside(
    tmp_path: Path,
) -> None:
    cfg = parse_config(data(tmp_path, profiles=[LYCHEE], rules=[HAND_RULE]))
    events: list[EventMessage] = []
    engine = RuleEngine(cfg, events.append)
    dev = cfg.device_id("room-0")

    def feed(at_s: float, **values: float) -> None:
        engine.observe(Sample(device=dev, ts_ms=1_000_000 + int(at_s * 1000), values=values))

    feed(0, temperature=1.0, humidity=92.0)
    feed(10, temperature=2.5, humidity=92.0)  # out of range, not yet for 60 s
    feed(60, temperature=2.6, humidity=92.0)
    assert events == []
    feed(70, temperature=2.7, humidity=92.0)  # 60 s above 2.0
    assert [(e.type, e.attrs["rule"]) for e in events] == [(EventType.ALARM, "profile-2-temp-high")]
    assert events[0].attrs["profile"] == "profile-2" and events[0].device == dev
    assert events[0].severity.value == "critical"
    feed(80, temperature=1.9, humidity=92.0)  # back inside: clears
    assert events[-1].type is EventType.ALARM_CLEAR
    feed(100, temperature=1.0, humidity=80.0)  # too dry, and a chilling-style low side
    feed(160, temperature=-0.5, humidity=80.0)
    assert {e.attrs["rule"] for e in events if e.type is EventType.ALARM} == {
        "profile-2-temp-high", "profile-2-rh-low",
    }  # fmt: skip
    feed(220, temperature=-0.5, humidity=92.0)
    assert "profile-2-temp-low" in engine.active()
    # the hand-written rule still runs beside the profile's
    assert any(s.rule.name == "door-open" for s in engine.states[cfg.device_id("room-1")])


async def _set_config(gw: Gateway, args: dict[str, Any]) -> Any:
    cmd = CommandMessage(id="c-1", name="set-config", args=args, issued=1, expires=2)
    return await gw.commands(cmd)


async def test_set_config_sections_replaces_the_profiles_only(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    cfg = parse_config(data(tmp_path, rules=[HAND_RULE]))
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_none=True)))
    gw = Gateway(cfg, drivers=[], config_path=path)
    drivers = gw.drivers
    try:
        ack = await _set_config(gw, {"sections": {"profiles": [LYCHEE]}})
        assert ack.status == "done", ack.detail
        assert [p.id for p in gw.config.profiles] == ["profile-2"]
        assert [r.name for r in gw.config.rules] == ["door-open"]  # untouched
        assert gw.drivers is drivers  # rules alone: no driver restarted
        assert "profile-2-temp-high" in {
            s.rule.name for s in gw.rules.states[cfg.device_id("room-0")]
        }
        on_disk = yaml.safe_load(path.read_text())
        assert on_disk["profiles"][0]["id"] == "profile-2"
        assert [r["name"] for r in on_disk["rules"]] == ["door-open"]
        # a profile the gateway cannot apply: refused with its location, nothing changes
        bad = {**LYCHEE, "temperature": {"metric": "temp_c", "min": 0, "max": 2}}
        ack = await _set_config(gw, {"sections": {"profiles": [bad]}})
        assert ack.status == "rejected"
        assert "profiles[0].temperature.metric" in (ack.detail or "")
        assert gw.config.profiles[0].temperature.metric == "temperature"
        # only live sections, and config or sections, not both
        ack = await _set_config(gw, {"sections": {"mqtt": {"url": "mqtt://x"}}})
        assert ack.status == "rejected" and "mqtt: cannot change remotely" in (ack.detail or "")
        ack = await _set_config(gw, {"sections": {"profiles": []}, "config": {}})
        assert ack.status == "rejected" and "either config" in (ack.detail or "")
        ack = await _set_config(gw, {"sections": {"profiles": []}})
        assert ack.status == "done" and gw.config.profiles == []
    finally:
        await gw.buffer.close()
