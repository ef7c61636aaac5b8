"""Install a signed release next to the running one, switch, watch its health, roll back.

::

    updater = SelfUpdater(layout, keys, gateway_config, service, target=..., policy=...)
    result = updater.apply(Path("dehong-gateway-1.4.0.tar"))   # verify, stage, switch, watch

1. **Verify** (nothing is written before): the manifest's signature against the
   gateway's public keys, its kind, target (this gateway's hardware) and version
   (no downgrade unless the release was signed as one), then every wheel's SHA-256.
2. **Stage** ``releases/<version>/``: the wheels, a new venv, ``pip install
   --no-index`` from the wheels only, a smoke check (the release's own ``dehong edge
   check-config`` on this gateway's config); ``.complete`` last.
3. **Switch**: ``update.json`` says *trial* (fsynced), ``previous`` and then
   ``current`` are re-pointed atomically, the service restarts.
4. **Watch** for ``policy.trial_s``: the new release is confirmed once it has been
   healthy (health.py: MQTT connected, buffer writable, every driver up) for
   ``policy.healthy_s`` without a break. Otherwise **roll back**: ``current`` points
   at the previous release again, the service restarts, ``update.json`` says
   *rolled_back* with the reason, a log line and an event on the wire say so.

The durable buffer lives in the gateway's ``state_dir``, outside ``releases/``: none
of this touches it. A reboot during the trial is picked up by :meth:`resume` (the
update service runs ``dehong fw self-update resume`` at boot).
"""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from edge.config import GatewayConfig
from edge.outbox import write_event
from firmware_bridge.selfupdate.bundle import (
    MANIFEST,
    default_target,
    extract_wheels,
    verify_bundle,
)
from firmware_bridge.selfupdate.health import Verdict, judge, read_status
from firmware_bridge.selfupdate.install import (
    InstallError,
    create_venv,
    pip_install,
    smoke_check,
)
from firmware_bridge.selfupdate.layout import COMPLETE, Layout, UpdateState, now_ms
from firmware_bridge.selfupdate.service import Service, ServiceError
from firmware_bridge.signing import ImageRejected, Manifest
from protocol.messages import EventMessage, EventType, Severity

log = logging.getLogger(__name__)

#: The event type of update notices (an existing kind of the wire contract: a notice
#: about the gateway's own software, like a driver's start or failure).
EVENT_TYPE = EventType.DRIVER


class UpdateRefused(ValueError):
    """The update was not started (nothing changed): the reason names what is wrong."""


@dataclass(frozen=True)
class Policy:
    #: how long the new release has to prove itself, s ("N minutes")
    trial_s: float = 600.0
    #: how long it must stay healthy without a break to be confirmed, s
    healthy_s: float = 60.0
    #: how often status.json is looked at, s
    poll_s: float = 1.0


@dataclass(frozen=True)
class Result:
    #: confirmed, rolled_back, failed (no previous release to return to)
    outcome: str
    version: str
    previous: str | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.outcome == "confirmed"


class SelfUpdater:
    def __init__(
        self,
        layout: Layout,
        public_keys: list[bytes],
        config: GatewayConfig,
        service: Service,
        *,
        config_path: Path | None = None,
        target: str | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.layout = layout
        self.public_keys = public_keys
        self.config = config
        self.config_path = config_path
        self.service = service
        self.target = target or default_target()
        self.policy = policy or Policy()

    # ------------------------------------------------------------ verify, stage

    def verify(self, bundle: Path) -> Manifest:
        """The bundle's manifest, if its signature, kind, target and version pass."""
        if not self.public_keys:
            raise UpdateRefused("no trusted release key on this gateway: nothing is accepted")
        manifest = verify_bundle(
            bundle,
            self.public_keys,
            expected_target=self.target,
            installed_version=self.layout.current_version(),
        )
        if manifest.version == self.layout.current_version():
            raise UpdateRefused(f"version: {manifest.version} is already the current release")
        return manifest

    def stage(self, bundle: Path) -> Manifest:
        """Verify ``bundle`` and build its release directory (not yet current)."""
        manifest = self.verify(bundle)
        version = manifest.version
        release = self.layout.release(version)
        if release.exists():
            if version == self.layout.previous_version():
                # re-installing the previous release (a signed downgrade): keep the link valid
                self.layout.previous.unlink()
            shutil.rmtree(release)
        release.mkdir(parents=True)
        try:
            opened = extract_wheels(bundle, manifest, release / "wheels")
            (release / MANIFEST).write_bytes(manifest.to_bytes())
            venv_dir = self.layout.venv(version)
            create_venv(venv_dir)
            pip_install(venv_dir, opened.wheels_dir, opened.wheels)
            smoke_check(venv_dir, self.config_path)
            (release / COMPLETE).write_text(f"{now_ms()}\n")
        except BaseException:
            shutil.rmtree(release, ignore_errors=True)
            raise
        log.info("self-update: release %s staged in %s", version, release)
        return manifest

    # ------------------------------------------------------------- switch, watch

    def _health(self, version: str, since_ms: int) -> Verdict:
        stale_ms = int((2 * self.config.health_interval_s + 10) * 1000)
        status, written_ms = read_status(self.config.gateway.state_dir)
        return judge(
            status,
            written_ms=written_ms,
            venv=self.layout.venv(version),
            since_ms=since_ms,
            now_ms=now_ms(),
            stale_ms=stale_ms,
        )

    def watch(self, version: str, since_ms: int, deadline_ms: int) -> Verdict:
        """Wait until ``version`` has been healthy for ``healthy_s`` (returns a healthy
        verdict) or the deadline passes (returns the last unhealthy one)."""
        streak: float | None = None  # monotonic time of the first healthy look in a row
        last = Verdict(False, "not checked")
        while True:
            verdict = self._health(version, since_ms)
            if verdict.healthy:
                streak = time.monotonic() if streak is None else streak
                if time.monotonic() - streak >= self.policy.healthy_s:
                    return verdict
            else:
                if streak is not None:
                    log.warning("self-update: %s was healthy, now: %s", version, verdict.reason)
                streak = None
                last = verdict
            if now_ms() >= deadline_ms:
                if last.reason == "not checked":
                    last = Verdict(False, "healthy, but not for long enough before the deadline")
                return last
            time.sleep(self.policy.poll_s)

    def switch(self, manifest: Manifest) -> UpdateState:
        old = self.layout.current_version()
        start = now_ms()
        state = UpdateState(
            state="trial",
            to_version=manifest.version,
            from_version=old,
            started_ms=start,
            deadline_ms=start + int(self.policy.trial_s * 1000),
        )
        self.layout.write_state(state)
        if old is not None:
            self.layout.point(self.layout.previous, old)
        self.layout.point(self.layout.current, manifest.version)
        log.info(
            "self-update: current -> %s (was %s); restarting the gateway", manifest.version, old
        )
        return state

    def apply(self, bundle: Path) -> Result:
        """Verify, stage, switch, watch; roll back by itself if health fails."""
        with self.layout.locked():
            try:
                manifest = self.stage(bundle)
            except (ImageRejected, UpdateRefused, InstallError) as exc:
                log.error("self-update: %s refused: %s", bundle.name, exc)
                raise
            state = self.switch(manifest)
            return self._trial(state)

    def _trial(self, state: UpdateState) -> Result:
        try:
            self.service.restart()
        except ServiceError as exc:
            return self._rollback(state, f"the service did not restart: {exc}")
        verdict = self.watch(state.to_version, state.started_ms, state.deadline_ms)
        if verdict.healthy:
            return self._confirm(state, verdict)
        return self._rollback(state, verdict.reason)

    def resume(self) -> Result | None:
        """After a reboot: finish an update that was on trial (None: nothing to do)."""
        with self.layout.locked():
            state = self.layout.read_state()
            if state is None or state.state != "trial":
                return None
            if self.layout.current_version() != state.to_version:
                state.state, state.reason = "failed", "interrupted before the switch"
                self.layout.write_state(state)
                log.warning("self-update: %s was interrupted before the switch", state.to_version)
                return Result("failed", state.to_version, state.from_version, state.reason)
            # the wall clock may have moved across the reboot: give at most one whole trial
            now = now_ms()
            trial_ms = int(self.policy.trial_s * 1000)
            state.deadline_ms = min(max(state.deadline_ms, now), now + trial_ms)
            state.started_ms = min(state.started_ms, now)
            verdict = self.watch(state.to_version, state.started_ms, state.deadline_ms)
            if verdict.healthy:
                return self._confirm(state, verdict)
            return self._rollback(state, verdict.reason)

    # ---------------------------------------------------------- confirm, rollback

    def _confirm(self, state: UpdateState, verdict: Verdict) -> Result:
        state.state, state.reason = "confirmed", verdict.reason
        self.layout.write_state(state)
        log.info(
            "self-update: release %s confirmed (%s); %s",
            state.to_version,
            verdict.reason,
            f"previous {state.from_version} kept for a rollback"
            if state.from_version
            else "the first release (nothing to roll back to)",
        )
        self._event(
            Severity.INFO,
            f"gateway updated from {state.from_version} to {state.to_version}",
            state,
            "confirmed",
        )
        self.prune()
        return Result("confirmed", state.to_version, state.from_version, verdict.reason)

    def _rollback(self, state: UpdateState, reason: str) -> Result:
        old = state.from_version
        if old is None or not self.layout.is_complete(old):
            state.state, state.reason = "failed", f"{reason}; no previous release to return to"
            self.layout.write_state(state)
            log.error("self-update: release %s is unhealthy (%s) and there is no previous "
                      "release to roll back to", state.to_version, reason)  # fmt: skip
            return Result("failed", state.to_version, old, state.reason)
        log.error(
            "self-update: release %s unhealthy within %.0f s (%s): rolling back to %s",
            state.to_version,
            self.policy.trial_s,
            reason,
            old,
        )
        self.layout.point(self.layout.current, old)
        state.state, state.reason = "rolled_back", reason
        self.layout.write_state(state)
        # handed to the gateway before it restarts: the restarted one takes it at once
        self._event(
            Severity.WARNING,
            f"gateway update to {state.to_version} rolled back to {old}: {reason}",
            state,
            "rolled_back",
        )
        try:
            self.service.restart()
        except ServiceError as exc:
            log.error("self-update: restarting the rolled-back release failed: %s", exc)
        self.prune()  # the failed release's venv goes (an SD card has little room)
        return Result("rolled_back", state.to_version, old, reason)

    def _event(self, severity: Severity, message: str, state: UpdateState, outcome: str) -> None:
        event = EventMessage(
            gw=self.config.gateway.id,
            id=f"selfupdate-{state.started_ms}-{outcome}-{secrets.token_hex(3)}",
            ts=now_ms(),
            type=EVENT_TYPE,
            severity=severity,
            message=message[:500],
            attrs={
                "component": "self-update",
                "outcome": outcome,
                "version": state.to_version,
                "previous": state.from_version,
                "reason": (state.reason or "")[:200],
            },
        )
        try:
            write_event(self.config.gateway.state_dir, event)
        except OSError as exc:
            log.error("self-update: cannot hand the %s event to the gateway: %s", outcome, exc)

    def prune(self) -> list[str]:
        """Remove releases other than ``current`` and ``previous`` (and half-built ones)."""
        keep = {self.layout.current_version(), self.layout.previous_version()}
        removed = []
        if self.layout.releases.is_dir():
            for release in self.layout.releases.iterdir():
                if release.name not in keep:
                    shutil.rmtree(release, ignore_errors=True)
                    removed.append(release.name)
        if removed:
            log.info("self-update: removed old release(s) %s", ", ".join(sorted(removed)))
        return removed
