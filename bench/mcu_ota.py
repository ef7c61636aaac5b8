"""Node OTA figures for ``dehong bench mcu`` (issue 16), also runnable alone:
``dehong bench mcu-ota [--short]``.

- UDP with 10 % datagram loss each way (seeded), HMAC-signed frames: the update of
  a 1 MB image completes; time, retransmitted bytes, timeouts. Baseline: the same
  transfer without loss, same run.
- Serial at 115,200 baud over a pty, paced like the line (10 bits per byte, 1 ms
  turnaround at each change of direction): the transfer time against the line's
  raw time for the image's bytes, computed in the same run; goal <= 1.3x.

Each run ends with the node confirming the new image (A/B trial boot and boot
report included in the time). ``--short`` uses smaller images and says so.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

from firmware_bridge.ota.link import LinePacer, SerialLink, UdpLink
from firmware_bridge.ota.sender import OtaConfig, OtaResult, OtaSender
from firmware_bridge.ota.stream import OtaImage
from firmware_bridge.signing import generate_keypair, manifest_for_image, sign_manifest
from simulators.mcu.bootloader import NodeModel
from simulators.mcu.ota_node import PtyNode, UdpNode

BAUD = 115_200
BITS_PER_BYTE = 10
TURNAROUND_S = 0.001
GOAL_SERIAL_RATIO = 1.3
HW = "esp32c3-bench"
NODE = 3


def _setup(size: int, seed: int) -> tuple[NodeModel, OtaImage]:
    private, public = generate_keypair()
    image = random.Random(seed).randbytes(size)
    m = manifest_for_image(image, target=HW, version="2.0.0")
    model = NodeModel(
        hardware_id=HW, public_keys=[public], image=b"\x01" * 4096, version="1.0.0",
        confirm_timeout=30.0,
    )  # fmt: skip
    return model, OtaImage(image, m.to_bytes(), sign_manifest(private, m))


def _figures(r: OtaResult) -> dict[str, Any]:
    return {
        "outcome": r.outcome,
        "seconds": round(r.elapsed, 3),
        "transfer_seconds": round(r.transfer_seconds, 3),
        "boot_seconds": round(r.boot_seconds, 3),
        "stream_bytes": r.stream_bytes,
        "bytes_sent": r.bytes_sent,
        "retransmitted_bytes": r.bytes_retransmitted,
        "retransmitted_pct": round(100 * r.bytes_retransmitted / r.stream_bytes, 1),
        "timeouts": r.timeouts,
        "offers": r.offers,
    }


async def _udp(size: int, loss: float) -> dict[str, Any]:
    model, image = _setup(size, 1)
    key = os.urandom(32)
    async with UdpNode(model, NODE, loss=loss, seed=16, key=key) as sim:
        link = await UdpLink("127.0.0.1", sim.port, NODE, key=key).open()
        try:
            cfg = OtaConfig(window=8, timeout=0.05, max_timeout=1.0, max_silence=60)
            result = await OtaSender(link, NODE, image, config=cfg).run()
        finally:
            link.close()
    out = _figures(result)
    out["datagrams_dropped"] = sim.dropped
    return out


async def _serial(size: int) -> dict[str, Any]:
    model, image = _setup(size, 2)
    async with PtyNode(model, NODE, pacer=LinePacer(BAUD, BITS_PER_BYTE, TURNAROUND_S)) as sim:
        gw_pacer = LinePacer(BAUD, BITS_PER_BYTE, TURNAROUND_S)
        link = SerialLink(sim.port, NODE, pacer=gw_pacer)
        try:
            cfg = OtaConfig(window=32, timeout=0.5, max_timeout=4.0, max_silence=60)
            result = await OtaSender(link, NODE, image, config=cfg).run()
        finally:
            link.close()
        node_busy = sim.pacer.busy if sim.pacer else 0.0
    raw = size * BITS_PER_BYTE / BAUD
    out = _figures(result)
    out.update(
        raw_line_seconds=round(raw, 3),
        ratio_to_raw=round(result.elapsed / raw, 3),
        line_busy_seconds=round(gw_pacer.busy + node_busy, 3),
        wire_bytes_gateway=link.bytes_out,
    )
    return out


async def ota_figures(short: bool = False) -> dict[str, Any]:
    udp_size = 256 * 1024 if short else 1024 * 1024
    serial_size = 64 * 1024 if short else 1024 * 1024
    started = time.monotonic()
    baseline = await _udp(udp_size, 0.0)
    lossy = await _udp(udp_size, 0.10)
    serial = await _serial(serial_size)
    ok = (
        baseline["outcome"] == lossy["outcome"] == serial["outcome"] == "confirmed"
        and serial["ratio_to_raw"] <= GOAL_SERIAL_RATIO
    )
    return {
        "bench": "mcu-ota",
        "short": short,
        "image_bytes_udp": udp_size,
        "image_bytes_serial": serial_size,
        "note": "short: smaller images than the 1 MB of the goal" if short else "1 MB images",
        "udp_loss_10pct": lossy,
        "udp_no_loss_baseline": baseline,
        "serial_115200": serial,
        "goal_serial_ratio_max": GOAL_SERIAL_RATIO,
        "goal_met": ok,
        "load": os.getloadavg()[0],
        "bench_seconds": round(time.monotonic() - started, 1),
    }


def run(short: bool = False) -> dict[str, Any]:
    return asyncio.run(ota_figures(short=short))


if __name__ == "__main__":
    import orjson

    print(orjson.dumps(run(short=bool(os.environ.get("SHORT")))).decode())
