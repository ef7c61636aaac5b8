"""A simulated node on Wi-Fi: pushes signed frames to the gateway over UDP.

Each data frame asks for an ACK and is sent again (flag RETRY, same seq) after a
backoff until acknowledged. A node whose clock is off gets TIME_SYNC from the
gateway (its stale frame is not delivered) and re-signs with the right time.
`loss` drops that share of datagrams both ways (tests of retransmission).
"""

from __future__ import annotations

import asyncio
import random

from firmware_bridge.protocol import (
    ACK_REQ,
    FROM_NODE,
    RETRY,
    FrameError,
    MessageError,
    decode_frame,
    decode_message,
    verify_auth,
)
from firmware_bridge.protocol.dedup import Backoff
from simulators.mcu.node import SimNode


class _Proto(asyncio.DatagramProtocol):
    def __init__(self, node: UdpNode) -> None:
        self.node = node

    def datagram_received(self, data: bytes, addr) -> None:
        self.node.datagram(data)


class UdpNode:
    def __init__(
        self,
        node: SimNode,
        gateway: tuple[str, int],
        *,
        backoff: Backoff | None = None,
        loss: float = 0.0,
        seed: int = 1,
    ) -> None:
        if node.key is None:
            raise ValueError(f"node {node.node_id} has no key: provision it first")
        node.udp = True
        self.node = node
        self.gateway = gateway
        self.backoff = backoff or Backoff(base_s=0.05, cap_s=1.0, attempts=6)
        self.loss = loss
        self.rng = random.Random(seed)
        self.transport: asyncio.DatagramTransport | None = None
        self._acked = asyncio.Event()
        self.delivered = 0
        self.given_up = 0
        self.rejected = 0
        self.last_wire = b""

    async def __aenter__(self) -> UdpNode:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _Proto(self), remote_addr=self.gateway
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.transport is not None:
            self.transport.close()

    def datagram(self, data: bytes) -> None:
        if self.loss and self.rng.random() < self.loss:
            return
        try:
            frame = decode_frame(data)
            msg = decode_message(frame.type, frame.payload)
        except (FrameError, MessageError):
            self.rejected += 1
            return
        key = self.node.key
        if frame.node_id != self.node.node_id or key is None or not verify_auth(frame, key):
            self.rejected += 1  # not from our gateway
            return
        out = self.node.outstanding
        self.node.handle(frame, msg)
        if out is not None and self.node.outstanding is None:
            self._acked.set()

    def _send(self, wire: bytes) -> None:
        self.last_wire = wire
        if self.transport is None or (self.loss and self.rng.random() < self.loss):
            return
        self.transport.sendto(wire)

    async def send_one(self) -> bool:
        """Send the next queued frame until acknowledged; False when nothing is queued
        or it was given up after the backoff's attempts (it stays queued then)."""
        node = self.node
        node.tick()
        if node.outstanding is None:
            msg = node.next_message()
            if msg is None:
                return False
            node.outstanding = (node.next_seq(), msg)
            node.sent += 1
        seq, msg = node.outstanding
        for attempt in range(self.backoff.attempts + 1):
            self._acked.clear()
            flags = FROM_NODE | ACK_REQ | (RETRY if attempt else 0)
            if attempt:
                node.retransmits += 1
                seq, msg = node.resend()
            self._send(node.wire(msg, seq, flags))
            try:
                await asyncio.wait_for(self._acked.wait(), self.backoff.delay(attempt, self.rng))
            except TimeoutError:
                continue
            self.delivered += 1
            return True
        self.given_up += 1
        return False

    async def run(self, interval_s: float = 1.0) -> None:
        while True:
            while await self.send_one():
                pass
            await asyncio.sleep(interval_s)
