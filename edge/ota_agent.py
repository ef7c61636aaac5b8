"""The gateway's node-update loop: started by :class:`edge.gateway.Gateway` when
``mcu.ota.cloud_url`` is set.

Every ``poll_interval_s`` (sooner while a rollout moves from stage to stage) it asks
the cloud for this gateway's assignments and runs them
(:func:`firmware_bridge.ota.agent.run_assignments`): each image is verified under
``mcu.ota.keys`` before a node hears of it, and each node is updated through the
running MCU driver (:class:`edge.drivers.mcu_ota.DriverLink`: one bus turn at a
time, so the bus keeps polling the other nodes). A cloud that does not answer is
retried with a jittered exponential backoff up to ``backoff_max_s``. The loop is a
task of its own: it never blocks the drivers, and an error in it is logged and
retried, never the end of the gateway.

The gateway calls the cloud as itself: HTTP Basic with its id and its broker
password (the cloud's ``gateway`` role: its own assignments and nodes only).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable

from edge.config import GatewayConfig
from edge.drivers.mcu import McuDriver
from edge.drivers.mcu_ota import DriverLink
from firmware_bridge.ota.agent import FirmwareClient, run_assignments
from firmware_bridge.ota.events import EventLog
from firmware_bridge.ota.sender import OtaConfig, OtaLink, OtaResult

log = logging.getLogger(__name__)

#: After a round that updated something, look again this soon (the next stage), s.
FOLLOW_UP_S = 5.0


class OtaAgent:
    def __init__(
        self,
        config: GatewayConfig,
        driver: Callable[[], McuDriver | None],
        *,
        ota: OtaConfig | None = None,
    ) -> None:
        self.config = config
        self.settings = config.mcu.ota
        #: the running MCU driver (looked up each round: a restart replaces it)
        self.driver = driver
        self.ota = ota
        self.events = EventLog()
        self.rounds = 0
        self.failures = 0  # consecutive rounds that could not reach the cloud
        self.results: list[OtaResult] = []
        self.outcomes: Counter[str] = Counter()
        self.last_error: str | None = None
        #: set after each round (tests and status wait on it)
        self.round_done = asyncio.Event()

    def links(self, driver: McuDriver) -> dict[int, OtaLink]:
        """A link per node address; an address used on two buses is left out (the
        cloud names a node by its address alone: such a node is reported failed)."""
        by_address: dict[int, list[str]] = {}
        for node in self.config.mcu.nodes:
            by_address.setdefault(node.node, []).append(node.id)
        out: dict[int, OtaLink] = {}
        for address, ids in by_address.items():
            if len(ids) == 1:
                out[address] = DriverLink(driver, ids[0])
            else:
                log.warning("mcu ota: address %d is used by %s; not updated", address, ids)
        return out

    def _ota_config(self, driver: McuDriver) -> OtaConfig:
        if self.ota is not None:
            return self.ota
        serial = [b.baudrate for b in self.config.mcu.buses if b.serial]
        return OtaConfig(baudrate=min(serial) if serial else None)

    async def run_once(self, client: FirmwareClient) -> list[OtaResult]:
        driver = self.driver()
        if driver is None:
            return []
        links = self.links(driver)
        try:
            return await run_assignments(
                client, self.config.gateway.id, links,
                config=self._ota_config(driver), events=self.events,
            )  # fmt: skip
        finally:
            for link in links.values():
                link.close()  # type: ignore[attr-defined]

    def delay(self, updated: bool) -> float:
        s = self.settings
        if self.failures:
            cap = min(s.backoff_max_s, s.poll_interval_s * 2 ** min(self.failures, 20))
            return random.uniform(cap / 2, cap)
        return min(FOLLOW_UP_S, s.poll_interval_s) if updated else s.poll_interval_s

    async def run(self) -> None:
        import httpx

        from firmware_bridge.signing import load_public_keys

        s = self.settings
        assert s.cloud_url is not None and s.keys is not None
        try:
            keys = await asyncio.to_thread(load_public_keys, s.keys)
            if not keys:
                raise ValueError(f"no *.pub key in {s.keys}")
        except (OSError, ValueError) as exc:  # check-config says so before a start
            self.last_error = f"mcu.ota.keys: {exc}"
            log.error("mcu ota: no node updates: %s", self.last_error)
            return
        _, password = self.config.mqtt.credentials()
        auth = httpx.BasicAuth(self.config.gateway.id, password or "")
        verify: str | bool = str(s.ca_file) if s.ca_file is not None else True
        async with httpx.AsyncClient(
            base_url=s.cloud_url, auth=auth, timeout=s.timeout_s, verify=verify
        ) as http:
            client = FirmwareClient(http, keys)
            while True:
                updated = False
                try:
                    results = await self.run_once(client)
                    self.results.extend(results)
                    self.outcomes.update(r.outcome for r in results)
                    updated = bool(results)
                    self.failures, self.last_error = 0, None
                except (httpx.HTTPError, OSError) as exc:
                    self.failures += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("mcu ota: the cloud did not answer (%s)", self.last_error)
                except Exception as exc:  # a bug here never ends the gateway
                    self.failures += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("mcu ota: round failed")
                self.rounds += 1
                self.round_done.set()
                await asyncio.sleep(self.delay(updated))
                self.round_done.clear()


__all__ = ["OtaAgent"]
