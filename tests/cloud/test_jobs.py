"""``dehong cloud jobs`` (cloud/jobs.py): the programme's scheduled jobs in one process,
against a migrated SQLite database and real HTTP receivers on loopback: the supervision
reminder reaches the webhook, an expired household is erased, the MOFCOM month is pushed
on its day, a failing job neither stops the others nor hides, and the status file's
health check tells a stuck or failing runner from a healthy one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from cloud.auth.principal import Role
from cloud.jobs import Job, JobFailed, Runner, check_status, programme_jobs
from cloud.notify import Notifier, channels_from_env
from cloud.services.poverty.storage import Household
from cloud.supervision.storage import ScheduleItem
from tests.cloud import mofcom_support
from tests.cloud.mofcom_support import receiver
from tests.cloud.stations_cases import new_household
from tests.support.api import HOME, ApiEnv, api_env
from tests.support.http_receiver import http_receiver

# 20 November 2026, 09:00 in Beijing: the monthly report's reminder day
NOW = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    async with api_env("sqlite", tmp_path) as e:
        yield e


async def _schedule(env: ApiEnv, remind_on: str, due_on: str) -> int:
    h = await env.headers(Role.COUNTY_ADMIN, HOME)
    r = await env.client.post(
        "/api/v1/supervision/schedule",
        headers=h,
        json={"county": HOME, "kind": "half_year_evaluation", "ref": "2026-H2",
              "title": "半年自评", "owner": "芒市商务局",
              "due_on": due_on, "remind_on": remind_on},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _channels(url: str) -> dict[str, object]:
    return dict(channels_from_env({"DEHONG_NOTIFY_CHANNELS": json.dumps(
        [{"name": "ops", "kind": "webhook", "url": url}])}))  # fmt: skip


async def test_one_round_reminds_erases_and_writes_its_status(env: ApiEnv, tmp_path: Path) -> None:
    item = await _schedule(env, "2026-11-20", "2026-11-25")
    expired, _ = await new_household(env, HOME, retention=date(2026, 11, 1))
    kept, _ = await new_household(env, HOME, retention=date(2027, 11, 1))
    status = tmp_path / "jobs.json"
    with http_receiver() as rec:
        channels = _channels(rec.url)
        notifier = Notifier(env.db, channels)  # type: ignore[arg-type]
        try:
            runner = Runner(programme_jobs(env.db, env.settings, notifier, ["ops"]), status,
                            clock=lambda: NOW)  # fmt: skip
            assert [j.name for j in runner.jobs] == ["supervision-reminders", "retention-sweep"]
            first = [(await runner.run_once(j)).summary for j in runner.jobs]
            again = await runner.run_once(runner.jobs[0])  # idempotent: nothing twice
        finally:
            await notifier.aclose()
        assert [q.body["key"] for q in rec.requests] == [f"supervision:{item}:reminder"]
    assert first == ["reminders=1 overdue=0", f"erased=1 households={expired}"]
    assert again.summary == "reminders=0 overdue=0" and again.runs == 2
    async with env.db.session() as s:
        assert (await s.get_one(Household, expired)).erased_at is not None
        assert (await s.get_one(Household, kept)).erased_at is None
    runner.write_status()
    doc = orjson.loads(status.read_bytes())
    assert doc["jobs"]["retention-sweep"]["ok"] is True
    assert check_status(status, NOW + timedelta(seconds=10)) is None


async def test_no_channel_fails_the_reminders_and_marks_nothing(env: ApiEnv) -> None:
    item = await _schedule(env, "2026-11-20", "2026-11-25")
    notifier = Notifier(env.db, {})
    try:
        runner = Runner(programme_jobs(env.db, env.settings, notifier, []), clock=lambda: NOW)
        reminders, sweep = [await runner.run_once(j) for j in runner.jobs]
    finally:
        await notifier.aclose()
    assert reminders.ok is False and "DEHONG_NOTIFY_CHANNELS" in reminders.summary
    assert sweep.ok is True  # the other job still ran
    async with env.db.session() as s:
        assert (await s.get_one(ScheduleItem, item)).reminded_at is None


async def test_the_mofcom_month_is_pushed_on_its_day_once(env: ApiEnv) -> None:
    await mofcom_support.build(env)
    on_day = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)  # 10:00 on the 5th in Beijing
    with receiver([]) as rx:
        settings = env.settings.model_copy(update={"mofcom_push_url": rx.url,
                                                   "mofcom_push_day": 5})  # fmt: skip
        notifier = Notifier(env.db, {})
        try:
            jobs = {j.name: j for j in programme_jobs(env.db, settings, notifier, [])}
            runner = Runner(list(jobs.values()), clock=lambda: on_day)
            first = await runner.run_once(jobs["mofcom-push"])
            second = await runner.run_once(jobs["mofcom-push"])
        finally:
            await notifier.aclose()
        assert len(rx.received) == 1
    assert first.ok and first.summary.startswith("2026-11: sent")
    assert second.summary == "nothing due"


async def test_a_failing_job_is_reported_and_the_others_keep_their_period(tmp_path: Path) -> None:
    calls: list[str] = []
    thrice = asyncio.Event()

    async def good(now: datetime) -> str:
        calls.append("good")
        if calls.count("good") == 3:
            thrice.set()
        return "fine"

    async def broken(now: datetime) -> str:
        calls.append("broken")
        raise KeyError("a defect")

    async def refused(now: datetime) -> str:
        raise JobFailed("the endpoint refused; tried again next round")

    status = tmp_path / "jobs.json"
    runner = Runner([Job("broken", 0.05, broken), Job("good", 0.05, good),
                     Job("refused", 3600, refused)], status, heartbeat_s=0.05)  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    await asyncio.wait_for(thrice.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert calls.count("broken") >= 2  # it keeps its period too
    assert runner.outcomes["refused"].runs == 1  # its period is an hour
    problem = check_status(status, datetime.now(UTC))
    assert problem is not None and "broken: KeyError('a defect')" in problem
    assert "refused: the endpoint refused" in problem


async def test_stop_ends_a_long_wait_at_once(tmp_path: Path) -> None:
    ran = asyncio.Event()

    async def quick(now: datetime) -> str:
        ran.set()
        return "ok"

    runner = Runner([Job("quick", 3600, quick)], tmp_path / "s.json", heartbeat_s=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    await asyncio.wait_for(ran.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 1)  # not an hour


def test_check_status_tells_stuck_missing_and_garbled(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    assert "no status file" in str(check_status(path, NOW))
    path.write_text("{not json")
    assert "not a status file" in str(check_status(path, NOW))
    path.write_bytes(orjson.dumps({"heartbeat": NOW.isoformat(), "heartbeat_s": 60, "jobs": {}}))
    assert check_status(path, NOW + timedelta(seconds=179)) is None
    assert "stuck" in str(check_status(path, NOW + timedelta(seconds=181)))


async def test_cli_once_prints_each_job_and_check_reads_the_status(
    env: ApiEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cloud.settings import get_settings
    from dehong.cli import build_parser

    status = tmp_path / "jobs.json"
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("DEHONG_DATABASE_URL", env.settings.database_url)
    monkeypatch.setenv("DEHONG_JOBS_STATUS_FILE", str(status))
    monkeypatch.delenv("DEHONG_NOTIFY_CHANNELS", raising=False)
    monkeypatch.delenv("DEHONG_MOFCOM_PUSH_URL", raising=False)

    async def dehong(*args: str) -> tuple[int, str, str]:
        get_settings.cache_clear()
        try:
            ns = build_parser().parse_args(["cloud", "jobs", *args])
            code = await ns.handler(ns)
        finally:
            get_settings.cache_clear()
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, err = await dehong("--check")
    assert code == 1 and "no status file" in err
    code, out, _ = await dehong("--once")  # no channel configured: the reminders fail
    lines = [json.loads(x) for x in out.strip().splitlines()]
    assert code == 1 and [x["job"] for x in lines] == ["supervision-reminders", "retention-sweep"]
    assert [x["ok"] for x in lines] == [False, True]
    code, _, err = await dehong("--check")
    assert code == 1 and "supervision-reminders" in err
    with http_receiver() as rec:
        monkeypatch.setenv("DEHONG_NOTIFY_CHANNELS",
                           json.dumps([{"name": "ops", "kind": "webhook", "url": rec.url}]))  # fmt: skip
        code, out, _ = await dehong("--once")
    assert code == 0, out
    assert (await dehong("--check"))[0] == 0
