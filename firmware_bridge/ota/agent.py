"""The gateway's firmware agent: fetch assignments from the cloud, download and verify
each image, offer it to the node, and report the node's state as it changes.

The cloud is reached over HTTPS as the gateway itself (HTTP Basic: its id and broker
password; role ``gateway``, only its own assignments and nodes); the
image is verified here again (signature under the gateway's own trusted keys,
target, size and SHA-256) before a single byte goes to a node, so a compromised
API cannot push an image the release engineer did not sign.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from firmware_bridge.ota.events import EventLog
from firmware_bridge.ota.sender import OtaConfig, OtaLink, OtaResult, OtaSender
from firmware_bridge.ota.stream import OtaImage
from firmware_bridge.signing import ImageRejected, verify_image, verify_manifest

if TYPE_CHECKING:
    import httpx

API = "/api/v1/firmware"
log = logging.getLogger(__name__)


class FirmwareClient:
    def __init__(self, http: httpx.AsyncClient, public_keys: list[bytes]) -> None:
        self.http = http
        self.public_keys = public_keys
        self._images: dict[int, OtaImage] = {}

    async def assignments(self, gateway_id: str) -> list[dict[str, Any]]:
        r = await self.http.get(f"{API}/gateways/{gateway_id}/assignments")
        r.raise_for_status()
        return list(r.json())

    async def fetch(self, image: dict[str, Any]) -> OtaImage:
        """Download an image and verify it under the gateway's trusted keys."""
        cached = self._images.get(image["id"])
        if cached is not None:
            return cached
        manifest = image["manifest"].encode()
        signature = bytes.fromhex(image["signature"])
        m = verify_manifest(
            manifest, signature, self.public_keys,
            expected_target=image["target"], installed_version=None,
        )  # fmt: skip
        r = await self.http.get(image["download"])
        r.raise_for_status()
        verify_image(m, r.content)
        got = OtaImage(r.content, manifest, signature)
        self._images[image["id"]] = got
        return got

    async def report(
        self, rollout_id: int, gateway_id: str, node_id: int, state: str, detail: str = ""
    ) -> dict[str, Any]:
        r = await self.http.post(
            f"{API}/rollouts/{rollout_id}/nodes/{gateway_id}/{node_id}",
            json={"state": state, "detail": detail[:500] or None},
        )
        r.raise_for_status()
        return dict(r.json())


async def run_assignments(
    client: FirmwareClient,
    gateway_id: str,
    links: Mapping[int, OtaLink],
    *,
    config: OtaConfig | None = None,
    events: EventLog | None = None,
) -> list[OtaResult]:
    """Install every current assignment of this gateway, one node after another."""
    import httpx

    events = events if events is not None else EventLog()
    results: list[OtaResult] = []
    for a in await client.assignments(gateway_id):
        rollout, node = a["rollout_id"], a["node_id"]
        link = links.get(node)
        if link is None:
            events.add("failed", node, "node is not on this gateway's bus")
            await client.report(rollout, gateway_id, node, "failed", "node not on this gateway")
            continue
        try:
            image = await client.fetch(a["image"])
        except ImageRejected as exc:
            events.add("refused", node, f"gateway refused the download: {exc}")
            await client.report(rollout, gateway_id, node, "refused", f"gateway: {exc}")
            continue
        states: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()

        async def reporter(rollout: int = rollout, node: int = node, q: Any = states) -> None:
            while (item := await q.get()) is not None:
                try:
                    await client.report(rollout, gateway_id, node, *item)
                except (httpx.HTTPError, OSError) as exc:  # the update goes on
                    log.warning(
                        "report of node %s (%s) to the cloud failed: %s", node, item[0], exc
                    )

        task = asyncio.create_task(reporter())
        sender = OtaSender(
            link, node, image, config=config, events=events,
            on_state=lambda state, detail, q=states: q.put_nowait((state, detail)),
        )  # fmt: skip
        try:
            results.append(await sender.run())
        finally:
            states.put_nowait(None)
            await task
    return results
