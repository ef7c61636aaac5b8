"""OtaLinks: one node's protocol messages over a serial line or UDP.

The gateway driver (edge/drivers/mcu.py) owns the bus in production; these links
carry an OTA session on their own (a technician's laptop, the tests, the bench)
with the same framing. A serial link can pace itself like a real line
(:class:`LinePacer`: 10 bits per byte at the baud rate, 1 ms turnaround when the
direction changes), since a pty has no baud rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

from firmware_bridge.ota.sender import Incoming
from firmware_bridge.protocol import (
    ACK_REQ,
    FROM_NODE,
    Frame,
    FrameDecoder,
    Message,
    MessageError,
    build,
    message_of,
    verify_auth,
)


class LinePacer:
    """Holds each transmission for its time on a simulated serial line."""

    def __init__(self, baud: int, bits_per_byte: int = 10, turnaround: float = 0.001) -> None:
        self.baud, self.bits_per_byte, self.turnaround = baud, bits_per_byte, turnaround
        self._free_at = 0.0
        self.heard = False  # received since our last transmission: turn the line around
        self.busy = 0.0  # seconds of line time used

    def airtime(self, nbytes: int) -> float:
        return nbytes * self.bits_per_byte / self.baud

    async def transmit(self, nbytes: int) -> None:
        now = time.monotonic()
        start = max(now, self._free_at) + (self.turnaround if self.heard else 0.0)
        self.heard = False
        self._free_at = start + self.airtime(nbytes)
        self.busy += self._free_at - start
        if self._free_at > now:
            await asyncio.sleep(self._free_at - now)


class FrameLink:
    """Frames for one node: sequence numbers, optional HMAC, decoding into a queue."""

    def __init__(self, node_id: int, *, key: bytes | None = None) -> None:
        self.node_id = node_id
        self.key = key
        self.decoder = FrameDecoder()
        self.queue: asyncio.Queue[Incoming] = asyncio.Queue()
        self.bad: Counter[str] = Counter()
        self.bytes_out = 0
        self._seq = 0

    def _encode(self, msg: Message, ack_req: bool) -> tuple[bytes, int]:
        self._seq = (self._seq + 1) & 0xFFFF
        flags = ACK_REQ if ack_req else 0
        auth_time = int(time.time()) if self.key is not None else None
        return build(msg, self.node_id, self._seq, flags, self.key, auth_time), self._seq

    def feed(self, data: bytes) -> None:
        for frame in self.decoder.feed(data):
            self._accept(frame)

    def _accept(self, frame: Frame) -> None:
        if frame.node_id != self.node_id or not frame.flags & FROM_NODE:
            self.bad["other_node"] += 1
            return
        if self.key is not None and not verify_auth(frame, self.key):
            self.bad["auth"] += 1
            return
        try:
            msg = message_of(frame)
        except MessageError:
            self.bad["payload"] += 1
            return
        self.queue.put_nowait(Incoming(msg, frame.seq, frame.flags))

    async def recv(self, wait: float) -> Incoming | None:
        if wait <= 0:
            try:
                return self.queue.get_nowait()
            except asyncio.QueueEmpty:
                return None
        try:
            return await asyncio.wait_for(self.queue.get(), wait)
        except TimeoutError:
            return None


class SerialLink(FrameLink):
    """Over a serial port (pyserial), e.g. an RS-485 adapter or one end of a pty."""

    def __init__(
        self,
        port: str,
        node_id: int,
        *,
        baudrate: int = 115200,
        pacer: LinePacer | None = None,
        key: bytes | None = None,
    ) -> None:
        super().__init__(node_id, key=key)
        import serial  # the edge extra

        self.serial = serial.Serial(port, baudrate=baudrate, timeout=0, write_timeout=5)
        self.pacer = pacer
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.serial.fileno(), self._readable)

    def _readable(self) -> None:
        with contextlib.suppress(OSError):
            data = self.serial.read(4096)
            if data:
                if self.pacer is not None:
                    self.pacer.heard = True
                self.feed(data)

    async def send(self, msg: Message, *, ack_req: bool = False) -> int:
        wire, seq = self._encode(msg, ack_req)
        if self.pacer is not None:
            await self.pacer.transmit(len(wire))  # the bytes arrive when fully sent
        self.serial.write(wire)
        self.bytes_out += len(wire)
        return seq

    def close(self) -> None:
        self._loop.remove_reader(self.serial.fileno())
        self.serial.close()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, link: UdpLink) -> None:
        self.link = link

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.link.feed(data)


class UdpLink(FrameLink):
    """Over UDP: one frame per datagram, to the node's address."""

    def __init__(self, host: str, port: int, node_id: int, *, key: bytes | None = None) -> None:
        super().__init__(node_id, key=key)
        self.addr = (host, port)
        self.transport: asyncio.DatagramTransport | None = None

    async def open(self) -> UdpLink:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self), remote_addr=self.addr
        )
        return self

    async def send(self, msg: Message, *, ack_req: bool = False) -> int:
        if self.transport is None:
            raise RuntimeError("UdpLink.open() first")
        wire, seq = self._encode(msg, ack_req)
        self.transport.sendto(wire)
        self.bytes_out += len(wire)
        return seq

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
