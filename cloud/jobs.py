"""The programme's scheduled jobs, in one long-running process: ``dehong cloud jobs``.

Every job here is idempotent, so the runner's rule is simple: run each job once at
start, then again every period, and never let one job's failure stop another.

- ``supervision-reminders``: the rhythm's reminders and overdue flags for today's
  Beijing date (:func:`cloud.supervision.reminders.tick`; a monthly report is reminded
  on the 20th and flagged on the 26th) through every channel of
  ``DEHONG_NOTIFY_CHANNELS``. With no channel configured it fails, and marks nothing:
  an item marked "reminded" with nobody told would never be reminded.
- ``retention-sweep``: erase the poverty-alleviation households whose retention has
  ended (:func:`cloud.services.poverty.service.erase_expired`, each erasure audited).
- ``mofcom-push``: push the previous month's MOFCOM export on its day
  (:func:`cloud.services.mofcom.push.run_due`); only when ``DEHONG_MOFCOM_PUSH_URL`` is
  set, every ``DEHONG_MOFCOM_PUSH_CHECK_S``.

After every round the runner replaces its status file (``DEHONG_JOBS_STATUS_FILE``,
fsync'd): each job's last start, end, outcome and summary, and the runner's heartbeat.
``dehong cloud jobs --check`` reads it for a container health check: healthy while
the heartbeat is fresh and no job's last run failed.

This module stands above the domains (like cloud.wiring): it only calls their
services.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from cloud.db import Database
from cloud.fsutil import write_atomic
from cloud.settings import Settings

log = logging.getLogger("dehong.jobs")

BEIJING = ZoneInfo("Asia/Shanghai")
ACTOR = "system:jobs"

Clock = Callable[[], datetime]
RunFn = Callable[[datetime], Awaitable[str]]


class JobFailed(RuntimeError):
    """A job could not do its work; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    every_s: float
    run: RunFn


@dataclass(frozen=True, slots=True)
class Outcome:
    started: str | None = None
    finished: str | None = None
    ok: bool | None = None
    summary: str = ""
    runs: int = 0
    failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"started": self.started, "finished": self.finished, "ok": self.ok,
                "summary": self.summary, "runs": self.runs, "failures": self.failures}  # fmt: skip


@dataclass(slots=True)
class Runner:
    """Runs ``jobs`` until ``stop`` is set: each one at once, then every ``every_s``."""

    jobs: Sequence[Job]
    status_file: Path | None = None
    clock: Clock = field(default=lambda: datetime.now(UTC))
    #: the longest the runner sleeps between status writes (the heartbeat)
    heartbeat_s: float = 60.0
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    async def run_once(self, job: Job) -> Outcome:
        """Run ``job`` now; its outcome (also kept in :attr:`outcomes`) never raises."""
        last = self.outcomes.get(job.name, Outcome())
        started, ok, failures = self.clock().isoformat(), False, last.failures
        try:
            summary, ok = await job.run(self.clock()), True
            log.info("job %s: %s", job.name, summary)
        except JobFailed as exc:
            summary, failures = str(exc), failures + 1
            log.error("job %s failed: %s", job.name, exc)
        except Exception as exc:  # one job's defect must not stop the others
            summary, failures = repr(exc), failures + 1
            log.exception("job %s failed", job.name)
        out = Outcome(started, self.clock().isoformat(), ok, summary, last.runs + 1, failures)
        self.outcomes[job.name] = out
        return out

    async def run(self, stop: asyncio.Event) -> None:
        due = {job.name: 0.0 for job in self.jobs}
        while not stop.is_set():
            for job in self.jobs:
                if stop.is_set():
                    break
                if due[job.name] <= time.monotonic():
                    await self.run_once(job)
                    due[job.name] = time.monotonic() + job.every_s
            self.write_status()
            wait = min([*(d - time.monotonic() for d in due.values()), self.heartbeat_s])
            try:
                await asyncio.wait_for(stop.wait(), max(wait, 0.0))
            except TimeoutError:
                continue

    def write_status(self) -> None:
        if self.status_file is None:
            return
        doc = {
            "heartbeat": self.clock().isoformat(),
            "heartbeat_s": self.heartbeat_s,
            "jobs": {name: o.as_dict() for name, o in self.outcomes.items()},
        }
        write_atomic(self.status_file, orjson.dumps(doc, option=orjson.OPT_INDENT_2), 0o644)


def check_status(path: Path, now: datetime) -> str | None:
    """None when the status file says the runner is alive and no job's last run failed;
    else what is wrong (for ``--check``)."""
    try:
        doc = orjson.loads(path.read_bytes())
        beat = datetime.fromisoformat(doc["heartbeat"])
        limit = 3 * float(doc["heartbeat_s"])
        jobs = dict(doc["jobs"])
    except FileNotFoundError:
        return f"{path}: no status file yet (is `dehong cloud jobs` running?)"
    except (ValueError, KeyError, TypeError) as exc:
        return f"{path}: not a status file of `dehong cloud jobs` ({exc})"
    age = (now - beat).total_seconds()
    if age > limit:
        return f"{path}: heartbeat {age:.0f} s old (more than {limit:.0f} s): the runner is stuck"
    failed = [f"{name}: {o.get('summary')}" for name, o in jobs.items() if o.get("ok") is False]
    return "; ".join(failed) or None


def beijing_day(now: datetime) -> date:
    return now.astimezone(BEIJING).date()


def supervision_reminders(db: Database, notifier: Any, channels: Sequence[str]) -> RunFn:
    async def run(now: datetime) -> str:
        from cloud.supervision.reminders import tick

        if not channels:
            raise JobFailed(
                "no notification channel: set DEHONG_NOTIFY_CHANNELS (cloud/notify/README.md); "
                "nothing was marked reminded"
            )
        sent = await tick(db, notifier, list(channels), beijing_day(now))
        failed = [s for s in sent if any(st != "sent" for st in s.statuses)]
        reminders = sum(s.what == "reminder" for s in sent)
        summary = f"reminders={reminders} overdue={len(sent) - reminders}"
        if failed:
            # the notifier keeps them (retries, dead letters); say so, but they are recorded
            summary += f" not_delivered={len(failed)} (see the notification log)"
        return summary

    return run


def retention_sweep(db: Database) -> RunFn:
    async def run(now: datetime) -> str:
        from cloud.services.poverty.service import erase_expired

        async with db.transaction() as s:
            done = await erase_expired(s, None, beijing_day(now), ACTOR)
        return f"erased={len(done)}" + (f" households={','.join(map(str, done))}" if done else "")

    return run


def mofcom_push(db: Database, settings: Settings) -> RunFn:
    async def run(now: datetime) -> str:
        from cloud.services.mofcom.push import run_due

        row = await run_due(db, settings, now=now)
        if row is None:
            return "nothing due"
        if row.status != "sent":
            raise JobFailed(
                f"MOFCOM push of {row.month}: {row.status} after {row.attempts} attempts "
                f"(delivery {row.id}); it is tried again next round"
            )
        return f"{row.month}: sent (delivery {row.id})"

    return run


def programme_jobs(
    db: Database, settings: Settings, notifier: Any, channels: Sequence[str]
) -> list[Job]:
    """The jobs of the programme, with their periods from ``settings``."""
    jobs = [
        Job("supervision-reminders", settings.jobs_every_s,
            supervision_reminders(db, notifier, channels)),
        Job("retention-sweep", settings.jobs_every_s, retention_sweep(db)),
    ]  # fmt: skip
    if settings.mofcom_push_url:
        jobs.append(Job("mofcom-push", settings.mofcom_push_check_s, mofcom_push(db, settings)))
    return jobs
