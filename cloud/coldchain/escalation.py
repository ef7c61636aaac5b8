"""The escalation ladder: who is told about an alarm, and when.

Default (``DEHONG_COLDCHAIN_LADDER`` replaces it, a JSON list of steps)::

    [{"after_s": 0,   "role": "first",      "channels": ["ops"]},   driver or room operator
     {"after_s": 300, "role": "dispatcher", "channels": ["ops"]},
     {"after_s": 900, "role": "manager",    "channels": ["ops"]}]

A step is due ``after_s`` seconds after the alarm was raised (the platform's clock:
when it learnt of the condition, so a truck's backlog escalates from its arrival);
each step is sent once, on every channel it names (:class:`cloud.notify.Notifier`),
to its ``to`` recipients (phone numbers for SMS, from configuration). Acknowledging
stops the ladder; so does the condition ending (the alarm still waits for its
acknowledgement). Timers run on the injected :class:`~cloud.coldchain.clock.Clock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from cloud.audit.service import record
from cloud.coldchain.alarms import SYSTEM
from cloud.coldchain.clock import Clock, SystemClock
from cloud.coldchain.storage import ColdchainAlarm
from cloud.db import Database
from cloud.notify import Notification, Notifier

log = logging.getLogger(__name__)

ROLE_NAMES = {
    "first": ("司机/库管", "driver or room operator"),
    "dispatcher": ("调度员", "dispatcher"),
    "manager": ("经理", "manager"),
}


@dataclass(frozen=True, slots=True)
class Step:
    after_s: float
    role: str
    channels: tuple[str, ...]
    to: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Ladder:
    steps: tuple[Step, ...] = field(
        default_factory=lambda: (
            Step(0, "first", ("ops",)),
            Step(300, "dispatcher", ("ops",)),
            Step(900, "manager", ("ops",)),
        )
    )

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("ladder: at least one step")
        after = [s.after_s for s in self.steps]
        if after != sorted(after) or after[0] < 0:
            raise ValueError(f"ladder: after_s must start at >= 0 and not decrease: {after}")

    @classmethod
    def from_json(cls, text: str) -> Ladder:
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"DEHONG_COLDCHAIN_LADDER: not JSON ({exc})") from None
        if not isinstance(raw, list):
            raise ValueError("DEHONG_COLDCHAIN_LADDER: a JSON list of steps is expected")
        steps = []
        for i, st in enumerate(raw):
            where = f"DEHONG_COLDCHAIN_LADDER[{i}]"
            if not isinstance(st, dict) or not isinstance(st.get("channels"), list):
                raise ValueError(f"{where}: {{after_s, role, channels: [...], to?}} expected")
            try:
                after = float(st.get("after_s", 0))
            except (TypeError, ValueError):
                raise ValueError(f"{where}.after_s: {st.get('after_s')!r} is not seconds") from None
            steps.append(Step(after, str(st.get("role", f"step{i}")),
                              tuple(map(str, st["channels"])),
                              tuple(map(str, st.get("to", ())))))  # fmt: skip
        try:
            return cls(tuple(steps))
        except ValueError as exc:
            raise ValueError(f"DEHONG_COLDCHAIN_LADDER: {exc}") from None


def message_of(alarm: ColdchainAlarm, step: Step, index: int) -> Notification:
    zh, en = ROLE_NAMES.get(step.role, (step.role, step.role))
    what = {"range": ("温度超出范围", "temperature out of range"),
            "cumulative": ("累计超温超限", "cumulative time out of range over the limit")}.get(
        alarm.rule, ("网关本地告警", "gateway local alarm"))  # fmt: skip
    first = datetime.fromtimestamp(alarm.first_ms / 1000, UTC).isoformat()
    peak = f"{alarm.peak_c:.1f} °C" if alarm.peak_c is not None else "-"
    return Notification(
        title=f"冷链告警 {what[0]} · Cold-chain alarm: {what[1]}"[:200],
        text=(
            f"设备 {alarm.device} ({alarm.metric}) 自 {first} 起，峰值 {peak}，第 {alarm.count} 次；"
            f"通知{zh}。\nDevice {alarm.device} ({alarm.metric}) since {first}, peak {peak}, "
            f"occurrence {alarm.count}; notifying the {en}. {alarm.message}"
        )[:4000],
        severity="critical" if alarm.severity == "critical" else "warning",
        to=step.to,
        data={
            "alarm_id": alarm.id,
            "county": alarm.county,
            "device": alarm.device,
            "metric": alarm.metric,
            "rule": alarm.rule,
            "count": alarm.count,
            "first_ms": alarm.first_ms,
            "peak_c": alarm.peak_c,
            "step": index,
            "role": step.role,
            "location_id": alarm.location_id,
        },
        key=f"alarm:{alarm.id}:step:{index}",
    )


class Escalator:
    """Sends each alarm's due steps; :meth:`run` loops on the injected clock."""

    def __init__(
        self,
        db: Database,
        notifier: Notifier | None,
        ladder: Ladder | None = None,
        clock: Clock | None = None,
        *,
        max_wait_s: float = 30.0,
    ) -> None:
        self.db = db
        self.notifier = notifier
        self.ladder = ladder or Ladder()
        self.clock = clock or SystemClock()
        self.max_wait_s = max_wait_s
        self._kick = asyncio.Event()
        self.sent: list[tuple[int, int]] = []

    def kick(self) -> None:
        """Look at the alarms now (one was raised)."""
        self._kick.set()

    async def tick(self) -> list[tuple[int, int]]:
        """Send every due step of every alarm raised, not acknowledged and active;
        ``[(alarm id, step index)]`` sent. Each step is recorded before it is sent
        (the notifier keeps it durably and retries), so a step is never sent twice."""
        now = self.clock.now()
        due: list[tuple[ColdchainAlarm, int]] = []
        async with self.db.transaction() as s:
            rows = (
                await s.scalars(
                    select(ColdchainAlarm).where(
                        ColdchainAlarm.status == "raised",
                        ColdchainAlarm.active.is_(True),
                        ColdchainAlarm.escalation_step < len(self.ladder.steps),
                    )
                )
            ).all()
            for alarm in rows:
                age = now - alarm.raised_at.timestamp()
                step = alarm.escalation_step
                while step < len(self.ladder.steps) and self.ladder.steps[step].after_s <= age:
                    due.append((alarm, step))
                    step += 1
                if step != alarm.escalation_step:
                    alarm.escalation_step = step
                    alarm.escalated_at = datetime.fromtimestamp(now, UTC)
                    await record(s, SYSTEM, "coldchain.alarm.escalated", f"alarm:{alarm.id}",
                                 alarm.county, {"step": step - 1,
                                                "role": self.ladder.steps[step - 1].role})  # fmt: skip
            messages = [(a.id, i, message_of(a, self.ladder.steps[i], i)) for a, i in due]
        sends = []
        for _, i, msg in messages:
            for channel in self.ladder.steps[i].channels:
                if self.notifier is not None:
                    sends.append(self.notifier.send(channel, msg))
        results = await asyncio.gather(*sends, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                log.error("escalation: a notification was not sent: %s", r)
        done = [(a, i) for a, i, _ in messages]
        self.sent.extend(done)
        return done

    async def next_due_in(self) -> float:
        """Seconds until the next step of an alarm is due (max_wait_s when none)."""
        now = self.clock.now()
        wait = self.max_wait_s
        async with self.db.session() as s:
            rows = (
                await s.execute(
                    select(ColdchainAlarm.raised_at, ColdchainAlarm.escalation_step).where(
                        ColdchainAlarm.status == "raised",
                        ColdchainAlarm.active.is_(True),
                        ColdchainAlarm.escalation_step < len(self.ladder.steps),
                    )
                )
            ).all()
        for raised_at, step in rows:
            at = raised_at.timestamp() + self.ladder.steps[step].after_s
            wait = min(wait, max(0.0, at - now))
        return wait

    async def run(self) -> None:
        while True:
            self._kick.clear()
            try:
                await self.tick()
                wait = await self.next_due_in()
            except Exception:
                log.exception("escalation tick failed; trying again")
                wait = 5.0
            sleeper = asyncio.ensure_future(self.clock.sleep(wait))
            kicked = asyncio.ensure_future(self._kick.wait())
            try:
                await asyncio.wait({sleeper, kicked}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for f in (sleeper, kicked):
                    f.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await f


def ladder_steps(steps: Sequence[tuple[float, str, Sequence[str]]]) -> Ladder:
    """A ladder from ``(after_s, role, channels)`` triples (tests, the bench)."""
    return Ladder(tuple(Step(a, r, tuple(c)) for a, r, c in steps))
