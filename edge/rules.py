"""Local threshold rules: alarms the gateway raises itself, with or without the cloud.

A cold room out of range must sound the horn in the warehouse even while the
4G link is down, so rules run on the samples as the drivers hand them over
(before the buffer) and:

- fire when the value stays past the threshold for ``min_duration_s`` (by the
  readings' own timestamps, so a single spike does not fire);
- clear only when the value is back past ``clear`` (hysteresis: a value
  wobbling around the threshold does not flap);
- emit ``alarm`` / ``alarm_clear`` events, which the durable buffer keeps until
  the cloud acknowledges them (never dropped);
- switch a Modbus coil (a local alarm relay) on when firing, off when clearing.

The rules are the config's ``rules`` and those its ``profiles`` stand for (a
commodity profile the cloud assigned to a room: :class:`edge.config.ProfileConfig`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from edge.config import GatewayConfig, RuleConfig
from edge.drivers.base import Sample
from protocol.messages import EventMessage, EventType, Severity

log = logging.getLogger(__name__)

SetCoil = Callable[[str, int, bool], Awaitable[None]]


@dataclass(slots=True)
class RuleState:
    rule: RuleConfig
    device: str  # wire id
    profile: str | None = None  # the commodity profile the rule comes from, if any
    since_ms: int | None = None  # first reading past the threshold, while not firing
    active: bool = False
    fired: int = 0


class RuleEngine:
    """Evaluates every configured rule on every sample of its device."""

    def __init__(
        self,
        config: GatewayConfig,
        emit: Callable[[EventMessage], None],
        set_coil: SetCoil | None = None,
    ) -> None:
        self.gateway_id = config.gateway.id
        self.emit = emit
        self.set_coil = set_coil
        self.states: dict[str, list[RuleState]] = {}
        for rule, profile in config.all_rules():
            device = config.device_id(rule.device)
            self.states.setdefault(device, []).append(RuleState(rule, device, profile))
        self._tasks: set[asyncio.Task[None]] = set()

    def active(self) -> list[str]:
        return [s.rule.name for states in self.states.values() for s in states if s.active]

    def observe(self, sample: Sample) -> None:
        for state in self.states.get(sample.device, ()):
            value = sample.values.get(state.rule.metric)
            if value is not None:
                self._step(state, value, sample.ts_ms)

    def _step(self, state: RuleState, value: float, ts_ms: int) -> None:
        rule = state.rule
        threshold = rule.above if rule.above is not None else rule.below
        assert threshold is not None
        clear = rule.clear if rule.clear is not None else threshold
        past = value > threshold if rule.above is not None else value < threshold
        if state.active:
            back = value <= clear if rule.above is not None else value >= clear
            if back:
                state.active = False
                self._event(state, EventType.ALARM_CLEAR, value, ts_ms)
                self._coil(state, False)
            return
        if not past:
            state.since_ms = None
            return
        if state.since_ms is None:
            state.since_ms = ts_ms
        if ts_ms - state.since_ms >= rule.min_duration_s * 1000:
            state.active = True
            state.since_ms = None
            state.fired += 1
            self._event(state, EventType.ALARM, value, ts_ms)
            self._coil(state, True)

    def _event(self, state: RuleState, kind: EventType, value: float, ts_ms: int) -> None:
        rule = state.rule
        side = f"above {rule.above}" if rule.above is not None else f"below {rule.below}"
        text = (
            f"{rule.name}: {rule.metric} {value} {side} for {rule.min_duration_s:.0f} s"
            if kind is EventType.ALARM
            else f"{rule.name}: {rule.metric} back to {value}"
        )
        self.emit(
            EventMessage(
                gw=self.gateway_id,
                id=secrets.token_urlsafe(12),
                ts=ts_ms,
                type=kind,
                device=state.device,
                severity=Severity(rule.severity) if kind is EventType.ALARM else Severity.INFO,
                message=text,
                attrs={
                    "rule": rule.name,
                    "metric": rule.metric,
                    "value": value,
                    "source": "local",
                    **({"profile": state.profile} if state.profile else {}),
                },
            )
        )
        log.log(logging.WARNING if kind is EventType.ALARM else logging.INFO, "local rule %s", text)

    def _coil(self, state: RuleState, on: bool) -> None:
        coil = state.rule.coil
        if coil is None or self.set_coil is None:
            return
        task = asyncio.get_running_loop().create_task(
            self._write(state, coil.device, coil.address, on)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, state: RuleState, device: str, address: int, on: bool) -> None:
        assert self.set_coil is not None
        try:
            await self.set_coil(device, address, on)
        except (OSError, KeyError, RuntimeError) as exc:
            log.error(
                "rule %s: could not switch coil %d of %s %s (%s); check the relay's wiring "
                "and address", state.rule.name, address, device, "on" if on else "off", exc,
            )  # fmt: skip

    async def drain(self) -> None:
        """Wait for pending coil writes (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
