"""Node OTA through the running MCU driver (edge/drivers/mcu.py).

:class:`DriverLink` is an :class:`~firmware_bridge.ota.sender.OtaLink` on a bus
worker: each request of the sender (a burst of chunks, an offer, the commit, a
boot-report poll) is one turn on the bus under the worker's lock, and the node's
frames of that turn come back through the worker's inbox (the same path as a
POLL's answer). Between turns the lock is free, so the worker keeps polling the
other nodes of the bus: an update does not stall the bus, it shares it::

    link = DriverLink(driver, "door-0")
    result = await OtaSender(link, link.node, image, config=OtaConfig(baudrate=115200)).run()
"""

from __future__ import annotations

import asyncio

from edge.drivers.mcu import BusWorker, McuDriver, NodeState
from firmware_bridge.ota.sender import Incoming
from firmware_bridge.protocol import ACK_REQ, Frame, Message, MessageError, decode_message


class DriverLink:
    def __init__(self, driver: McuDriver, node_local_id: str) -> None:
        for worker in driver.workers:
            for ns in worker.nodes.values():
                if ns.spec.id == node_local_id:
                    self.worker: BusWorker = worker
                    self.ns: NodeState = ns
                    self.node = ns.spec.node
                    break
        if not hasattr(self, "worker"):
            known = ", ".join(ns.spec.id for w in driver.workers for ns in w.nodes.values())
            raise ValueError(f"node: no MCU node {node_local_id!r} (known: {known or 'none'})")
        self._queue: asyncio.Queue[tuple[Frame, int]] = asyncio.Queue()
        self._held = False
        self.bad_payloads = 0

    async def send(self, msg: Message, *, ack_req: bool = False) -> int:
        if not self._held:
            await self.worker.lock.acquire()
            self._held = True
        # the worker's own poll of this node replaces and removes the inbox: set it again
        self.worker._inbox[self.node] = self._queue
        seq = self.worker.next_seq()
        await self.worker.send(self.ns, msg, ACK_REQ if ack_req else 0, seq)
        return seq

    async def recv(self, wait: float) -> Incoming | None:
        try:
            if wait <= 0:
                frame, _ = self._queue.get_nowait()
            else:
                frame, _ = await asyncio.wait_for(self._queue.get(), wait)
        except (TimeoutError, asyncio.QueueEmpty):
            if wait > 0:
                self._release()  # the turn ends in silence
            return None
        if wait > 0:
            self._release()  # the turn ends with the answer; leftovers stay queued
        try:
            msg = decode_message(frame.type, frame.payload)
        except MessageError:
            self.bad_payloads += 1
            return None
        return Incoming(msg, frame.seq, frame.flags)

    def _release(self) -> None:
        if self._held:
            self._held = False
            self.worker.lock.release()

    def close(self) -> None:
        self._release()
        if self.worker._inbox.get(self.node) is self._queue:
            del self.worker._inbox[self.node]
