"""The escalation ladder on an injected clock: the first step at once, the dispatcher
after 5 min, the manager after 15, each delivered over real HTTP; acknowledging stops
it; no wall time spent waiting."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloud.coldchain import alarms as lifecycle
from cloud.coldchain.clock import ManualClock
from cloud.coldchain.escalation import Escalator, Ladder, ladder_steps
from cloud.coldchain.service import build
from cloud.coldchain.storage import ColdchainAlarm
from cloud.db import Database
from cloud.notify import Channel, Notifier
from cloud.timeseries.sqlite import SqliteStore
from tests.cloud.coldchain.support import block, make_place, minutes
from tests.support.http_receiver import http_receiver

DEV = "gw-m1.room-2"


async def _no_sleep(_s: float) -> None:
    return None


async def test_ladder_on_a_manual_clock(db: Database, tmp_path: Path) -> None:
    await make_place(db, DEV)
    ts = SqliteStore(tmp_path / "ts.db")
    await ts.open()
    clock = ManualClock()
    with http_receiver() as rec:
        notifier = Notifier(db, {"ops": Channel("ops", "webhook", url=rec.url + "/first"),
                                 "boss": Channel("boss", "webhook", url=rec.url + "/boss")},
                            sleep=_no_sleep)  # fmt: skip
        ladder = ladder_steps([(0, "first", ["ops"]), (300, "dispatcher", ["ops"]),
                               (900, "manager", ["ops", "boss"])])  # fmt: skip
        cc = build(db, ts, notifier=notifier, ladder=ladder, clock=clock, env={})
        cc.start()
        wall = time.monotonic()
        try:
            b = block(DEV, *minutes([5, 10, 10, 10, 10]))
            await ts.write_blocks([b])
            cc.engine.readings_written([b])
            await cc.engine.drained()
            await asyncio.to_thread(rec.wait_for, 1)
            first = rec.requests[0].body
            assert first["data"]["role"] == "first" and first["data"]["step"] == 0
            assert first["severity"] == "warning" and "冷链告警" in first["title"]
            await clock.advance(299)
            await asyncio.sleep(0.2)
            assert len(rec.requests) == 1  # not yet
            await clock.advance(1)
            await asyncio.to_thread(rec.wait_for, 2)
            assert rec.requests[1].body["data"]["role"] == "dispatcher"
            await clock.advance(600)
            await asyncio.to_thread(rec.wait_for, 4)
            assert {r.path for r in rec.requests[2:]} == {"/first", "/boss"}
            assert all(r.body["data"]["role"] == "manager" for r in rec.requests[2:])
            await clock.advance(3600)
            await asyncio.sleep(0.2)
            assert len(rec.requests) == 4  # the ladder has three steps
        finally:
            await cc.stop()
            await ts.close()
    assert time.monotonic() - wall < 20  # 80 simulated minutes, seconds of wall time


async def test_acknowledging_stops_the_ladder(db: Database, tmp_path: Path) -> None:
    clock = ManualClock()
    with http_receiver() as rec:
        notifier = Notifier(db, {"ops": Channel("ops", "webhook", url=rec.url)}, sleep=_no_sleep)
        esc = Escalator(db, notifier, Ladder(), clock)
        now = datetime.fromtimestamp(clock.now(), UTC)
        async with db.transaction() as s:
            cond = lifecycle.Condition("533103", DEV, "temp_c", "range", "cloud", "warning",
                                       1, 2, 9.0)  # fmt: skip
            alarm, _ = await lifecycle.raise_or_repeat(s, cond, now)
            alarm_id = alarm.id
        assert await esc.tick() == [(alarm_id, 0)]
        assert await esc.tick() == []  # sent once
        async with db.transaction() as s:
            alarm = await s.get(ColdchainAlarm, alarm_id)
            assert alarm is not None
            await lifecycle.acknowledge(s, alarm, actor="user:li", comment="on it", now=now)
        await clock.advance(1000)
        assert await esc.tick() == []
        assert await esc.next_due_in() == esc.max_wait_s
        await notifier.aclose()
    assert len(rec.requests) == 1


def test_ladder_configuration_refusals() -> None:
    ok = Ladder.from_json('[{"after_s": 0, "role": "first", "channels": ["ops"]}]')
    assert ok.steps[0].channels == ("ops",)
    for raw, why in [
        ("nope", "not JSON"),
        ("{}", "a JSON list"),
        ('[{"after_s": 0}]', "channels"),
        ('[{"after_s": "soon", "channels": []}]', "after_s: 'soon'"),
        ('[{"after_s": 300, "channels": []}, {"after_s": 0, "channels": []}]', "not decrease"),
    ]:
        with pytest.raises(ValueError, match="DEHONG_COLDCHAIN_LADDER") as exc:
            Ladder.from_json(raw)
        assert why in str(exc.value)
