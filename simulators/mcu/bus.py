"""Several simulated nodes on one RS-485 line (a tty path): each answers the frames
addressed to it, in the gateway's time slot (the gateway polls, nodes answer)."""

from __future__ import annotations

import asyncio
import logging
import os
import termios
import tty
from collections.abc import Iterable

from firmware_bridge.protocol import FROM_NODE, FrameDecoder, MessageError, decode_message
from simulators.mcu.node import SimNode

log = logging.getLogger(__name__)


class SerialNodeBus:
    def __init__(self, path: str, nodes: Iterable[SimNode]) -> None:
        self.path = path
        self.nodes = {n.node_id: n for n in nodes}
        self.decoder = FrameDecoder()
        self.fd = -1
        self.answered = 0
        self.bad_payloads = 0
        #: node ids that are "unplugged": they hear nothing and never answer
        self.silent: set[int] = set()
        #: a hook that may alter an answer on its way out (noise tests)
        self.mangle = None

    async def __aenter__(self) -> SerialNodeBus:
        self.fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        termios.tcflush(self.fd, termios.TCIOFLUSH)
        asyncio.get_running_loop().add_reader(self.fd, self._readable)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.fd >= 0:
            asyncio.get_running_loop().remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except (BlockingIOError, OSError):
            return
        for frame in self.decoder.feed(data):
            if frame.flags & FROM_NODE:
                continue  # another node's answer on the shared line
            node = self.nodes.get(frame.node_id)
            if node is None or frame.node_id in self.silent:
                continue
            try:
                msg = decode_message(frame.type, frame.payload)
            except MessageError:
                self.bad_payloads += 1
                continue
            answer = node.handle(frame, msg)
            if answer is None:
                continue
            wire = node.wire(*answer)
            if self.mangle is not None:
                wire = self.mangle(node, wire)
            self.answered += 1
            os.write(self.fd, wire)
