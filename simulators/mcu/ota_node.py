"""Runs a :class:`~simulators.mcu.bootloader.NodeModel` on a pty or a UDP port.

The node answers frames addressed to its id; on the serial line it paces its
replies like a real one (turnaround, then 10 bits per byte). On UDP it can lose a
fraction of datagrams in each direction (seeded, so a run can be repeated).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import tty
from collections import Counter

from firmware_bridge.ota.link import LinePacer
from firmware_bridge.protocol import (
    ACK_REQ,
    FROM_NODE,
    Frame,
    FrameDecoder,
    MessageError,
    build,
    message_of,
    verify_auth,
)
from simulators.mcu.bootloader import NodeModel


class NodeRunner:
    def __init__(self, model: NodeModel, node_id: int, *, key: bytes | None = None) -> None:
        self.model = model
        self.node_id = node_id
        self.key = key
        self.decoder = FrameDecoder()
        self.bad: Counter[str] = Counter()
        self._tick: asyncio.Task[None] | None = None

    def _replies(self, frame: Frame) -> list[bytes]:
        if frame.node_id != self.node_id or frame.flags & FROM_NODE:
            return []
        if self.key is not None and not verify_auth(frame, self.key):
            self.bad["auth"] += 1
            return []
        try:
            msg = message_of(frame)
        except MessageError:
            self.bad["payload"] += 1
            return []
        out = []
        for reply, seq in self.model.handle(msg, frame.seq, bool(frame.flags & ACK_REQ)):
            auth_time = int(time.time()) if self.key is not None else None
            out.append(build(reply, self.node_id, seq, FROM_NODE, self.key, auth_time))
        return out

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            self.model.tick()

    def start_ticks(self) -> None:
        self._tick = asyncio.create_task(self._ticker())

    async def stop(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick


class PtyNode(NodeRunner):
    """The node on the master side of a pty; ``port`` is the tty the gateway opens."""

    def __init__(
        self,
        model: NodeModel,
        node_id: int,
        *,
        pacer: LinePacer | None = None,
        key: bytes | None = None,
    ) -> None:
        super().__init__(model, node_id, key=key)
        self.pacer = pacer
        self._out: asyncio.Queue[bytes] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PtyNode:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master, self._readable)
        self._writer = asyncio.create_task(self._write_loop())
        self.start_ticks()
        return self

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except OSError:
            return
        if self.pacer is not None:
            self.pacer.heard = True
        for frame in self.decoder.feed(data):
            for wire in self._replies(frame):
                self._out.put_nowait(wire)

    async def _write_loop(self) -> None:
        while True:
            wire = await self._out.get()
            if self.pacer is not None:
                await self.pacer.transmit(len(wire))
            os.write(self._master, wire)

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        asyncio.get_running_loop().remove_reader(self._master)
        os.close(self._master)
        os.close(self._slave)


class _NodeDatagrams(asyncio.DatagramProtocol):
    def __init__(self, node: UdpNode) -> None:
        self.node = node
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        node = self.node
        if node.rng.random() < node.loss:
            node.dropped += 1
            return
        for frame in node.decoder.feed(data):
            for wire in node._replies(frame):
                if node.rng.random() < node.loss:
                    node.dropped += 1
                    continue
                assert self.transport is not None
                self.transport.sendto(wire, addr)


class UdpNode(NodeRunner):
    """The node on a UDP port of 127.0.0.1, losing ``loss`` of datagrams each way."""

    def __init__(
        self,
        model: NodeModel,
        node_id: int,
        *,
        loss: float = 0.0,
        seed: int = 1,
        key: bytes | None = None,
    ) -> None:
        super().__init__(model, node_id, key=key)
        self.loss = loss
        self.rng = random.Random(seed)
        self.dropped = 0

    async def __aenter__(self) -> UdpNode:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _NodeDatagrams(self), local_addr=("127.0.0.1", 0)
        )
        self.port = self.transport.get_extra_info("sockname")[1]
        self.start_ticks()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        self.transport.close()
