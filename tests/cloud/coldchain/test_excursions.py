"""The engine's arithmetic (cloud/coldchain/excursions.py), pure."""

from __future__ import annotations

import random

import pytest

from cloud.coldchain.excursions import evaluate
from cloud.coldchain.rules import DefrostWindow, EngineSettings, Rules
from tests.cloud.coldchain.support import MIN, T0, minutes


def rules(**kw: object) -> Rules:
    base = dict(low=2.0, high=8.0, single_max_s=1800, cumulative_max_s=3600,
                min_duration_s=120, poll_interval_s=60)  # fmt: skip
    base.update(kw)
    return Rules(**base)  # type: ignore[arg-type]


def test_hysteresis_keeps_an_excursion_until_back_inside_the_band() -> None:
    # 9 starts it; 7.8 (inside, but within 0.5 of 8) keeps it; 7.4 ends it
    ts, vs = minutes([5, 9, 9, 7.8, 8.2, 7.4, 5, 5])
    (e,) = evaluate(ts, vs, rules())
    assert (e.start_ms, e.end_ms) == (T0 + MIN, T0 + 5 * MIN)
    assert e.duration_s == 240 and e.peak_c == 9 and e.direction == 1 and e.kind == "excursion"
    assert e.confirmed_ms == T0 + 3 * MIN  # reached 120 s held at the third reading


def test_shorter_than_the_minimum_is_noise_and_a_gap_weighs_nothing() -> None:
    ts, vs = minutes([5, 9, 5, 5])
    assert evaluate(ts, vs, rules()) == []
    # two readings outside 30 min apart: the first holds 2 min (2x poll), the second 1 min
    # (to the next reading), the gap between weighs nothing
    ts = [T0, T0 + MIN, T0 + 31 * MIN, T0 + 32 * MIN]
    (e,) = evaluate(ts, [5, 9, 9, 5], rules())
    assert e.duration_s == 180 and e.end_ms == T0 + 32 * MIN


def test_below_the_range_too() -> None:
    ts, vs = minutes([3, 1, 0.5, 1.5, 2.4, 2.6, 3])
    (e,) = evaluate(ts, vs, rules())
    assert e.direction == -1 and e.peak_c == 0.5 and e.end_ms == T0 + 5 * MIN


def test_single_and_cumulative_limits() -> None:
    # 40 min above: single limit (30 min) passed 30 min + 1 ms after the start
    ts, vs = minutes([5] + [10] * 40 + [5])
    (e,) = evaluate(ts, vs, rules())
    assert e.single_breach_ms == T0 + MIN + 1_800_000 + 1
    assert e.cumulative_breach_ms is None  # 40 min < 60 min
    # three 25-minute excursions: the third passes 60 min cumulative
    vals = ([5] * 10 + [10] * 25) * 3 + [5] * 5
    ts, vs = minutes(vals)
    es = evaluate(ts, vs, rules())
    assert [e.single_breach_ms for e in es] == [None, None, None]
    assert [e.cumulative_breach_ms is not None for e in es] == [False, False, True]
    third = es[2]
    assert third.cumulative_breach_ms == third.start_ms + 10 * MIN + 1  # 50 + 10 min > 60


def test_door_spike_is_classed_apart_and_a_long_one_is_not() -> None:
    ts, vs = minutes([5, 5, 10, 10, 10, 9, 5, 5])
    door = [(T0 + MIN, 1.0), (T0 + 2 * MIN, 0.0)]
    (e,) = evaluate(ts, vs, rules(), door=door)
    assert e.kind == "door" and e.door
    ts, vs = minutes([5, 5] + [10] * 20 + [5])
    (e,) = evaluate(ts, vs, rules(), door=door)
    assert e.kind == "excursion" and e.door  # 20 min > door_spike_max_s (10 min)
    # a spike long after the door closed is an excursion
    (e,) = evaluate(*minutes([5] * 12 + [10] * 4 + [5]), rules(), door=door)
    assert e.kind == "excursion" and not e.door


def test_defrost_masked_by_coil_signal_and_by_schedule() -> None:
    vals = [5, 5] + [12] * 15 + [6] * 20 + [5]
    ts, vs = minutes(vals)
    assert len(evaluate(ts, vs, rules())) == 1
    coil = [(T0 + MIN, 1.0), (T0 + 17 * MIN, 0.0)]
    assert evaluate(ts, vs, rules(), defrost=coil) == []
    # the same by a schedule: 08:01 Beijing = 00:01 UTC, 16 min, then 10 min recovery
    sched = rules(defrost_schedule=(DefrostWindow("08:01", 16 * 60),))
    assert evaluate(ts, vs, sched) == []
    # a warm spell after the recovery is an excursion again
    later = vals + [5] * 20 + [12] * 5 + [5]
    assert len(evaluate(*minutes(later), sched)) == 1


def test_same_readings_same_result_whatever_the_order_they_were_collected() -> None:
    rng = random.Random(5)
    vals = [5 + (7 if 30 <= i % 97 < 60 else 0) + rng.uniform(-0.4, 0.4) for i in range(600)]
    ts, vs = minutes(vals)
    pairs = list(zip(ts, vs, strict=True))
    rng.shuffle(pairs)
    pairs.sort()
    assert evaluate(ts, vs, rules()) == evaluate(
        [t for t, _ in pairs], [v for _, v in pairs], rules()
    )
    with pytest.raises(ValueError, match="ascending"):
        evaluate([T0 + MIN, T0], [1.0, 2.0], rules())


def test_rules_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="low: 9"):
        Rules(9, 8, 1, 1)
    with pytest.raises(ValueError, match="a range needs at least one bound"):
        Rules(None, None, 1, 1)
    with pytest.raises(ValueError, match="hysteresis_c"):
        Rules(2, 8, 1, 1, hysteresis_c=float("nan"))
    with pytest.raises(ValueError, match="not HH:MM"):
        DefrostWindow("25:00", 60)
    with pytest.raises(ValueError, match="unknown field"):
        EngineSettings(overrides={1: {"colour": "red"}}).rules(
            low=1, high=2, single_max_s=1, cumulative_max_s=1, location_id=1
        )


def test_engine_settings_from_json() -> None:
    s = EngineSettings.from_json(
        '{"hysteresis_c": 0.3, "defrost_schedule": [{"start": "02:00", "duration_s": 1200}],'
        ' "overrides": {"17": {"min_duration_s": 300, "poll_interval_s": 10}}}'
    )
    r = s.rules(low=2, high=8, single_max_s=1800, cumulative_max_s=3600, location_id=17)
    assert (r.hysteresis_c, r.min_duration_s, r.cap_ms) == (0.3, 300, 20_000)
    assert r.defrost_schedule[0].start == "02:00"
    for raw, why in [
        ("[]", "a JSON object"),
        ('{"colour": 1}', "unknown field(s) colour"),
        ('{"hysteresis_c": -1}', "hysteresis_c"),
        ('{"defrost_schedule": [{"start": "2am", "duration_s": 60}]}', "not HH:MM"),
        ('{"overrides": {"x": {}}}', "invalid literal"),
        ('{"overrides": {"3": {"poll_interval_s": 0}}}', "poll_interval_s"),
    ]:
        with pytest.raises(ValueError, match="DEHONG_COLDCHAIN_SETTINGS") as exc:
            EngineSettings.from_json(raw)
        assert why in str(exc.value), (raw, str(exc.value))
