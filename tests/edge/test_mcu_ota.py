"""OTA through the running MCU driver (edge/drivers/mcu_ota.py): the update shares the
RS-485 bus with the polling of the other nodes, whose readings keep coming."""

from __future__ import annotations

import time

from edge.drivers.mcu import McuDriver
from edge.drivers.mcu_ota import DriverLink
from firmware_bridge.ota.sender import OtaConfig, OtaSender
from simulators.mcu.bootloader import NodeModel, attach_ota
from simulators.mcu.bus import SerialNodeBus
from simulators.mcu.line import PacedLine
from simulators.mcu.node import SimNode
from tests.edge.test_mcu_driver import GW, ListSink, config, node_cfg, until
from tests.firmware_bridge.ota_support import assert_bootable_signed, firmware, keys, signed


async def test_ota_through_the_driver_while_the_bus_keeps_polling() -> None:
    k = keys()
    door, clamp = SimNode(17, "door", interval_ms=50), SimNode(18, "compressor", interval_ms=50)
    model = NodeModel(hardware_id="sim-door-v1", public_keys=[k.public], image=b"\x00" * 256,
                      version="1.0.0")  # fmt: skip
    attach_ota(door, model)
    new = firmware(24 * 1024, 8)
    async with PacedLine() as pair:  # 115,200 baud, 1 ms turnaround
        cfg = config(
            [{"id": "rs485", "serial": pair.b, "timeout_s": 0.2}],
            [
                node_cfg("door-0", 17, "door", poll_interval_s=0.05),
                node_cfg("clamp-0", 18, "compressor", poll_interval_s=0.05),
            ],
        )
        async with SerialNodeBus(pair.a, [door, clamp]):
            driver = McuDriver(cfg)
            sink = ListSink()
            await driver.start(sink)
            try:
                await until(lambda: driver.status().get(f"{GW}.door-0") == "up")
                link = DriverLink(driver, "door-0")
                before = len(sink.values("compressor_current"))
                t0 = time.monotonic()
                image = signed(k, new, "1.2.0", target="sim-door-v1")
                cfg_ota = OtaConfig(window=16, timeout=0.3, max_timeout=1.0, max_silence=20,
                                    baudrate=115200)  # fmt: skip
                try:
                    result = await OtaSender(link, link.node, image, config=cfg_ota).run()
                finally:
                    link.close()
                during = len(sink.values("compressor_current")) - before
                elapsed = time.monotonic() - t0
            finally:
                await driver.stop()
    assert result.outcome == "confirmed", result
    assert_bootable_signed(model, {"1.2.0": new})
    assert during > 0, f"no readings of the other node during {elapsed:.1f} s of OTA"
    assert driver.status()[f"{GW}.clamp-0"] == "up"
