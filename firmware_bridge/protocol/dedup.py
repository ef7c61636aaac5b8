"""At-least-once delivery, de-duplicated: the receiver's per-peer sequence memory,
and the sender's retransmission backoff.

Sequences are u16 and wrap. A receiver remembers, per node, the last `window`
sequences it accepted; a frame whose sequence is among them is a duplicate (its
sender did not see our ACK and retransmitted) and is acknowledged again but not
delivered twice. With auth (UDP), `ReplayGuard` also refuses a frame whose signed
time is outside `window_s` of the receiver's clock, so an old captured frame cannot
be replayed after its sequence has left the memory.
"""

from __future__ import annotations

import random
from collections import OrderedDict, deque
from dataclasses import dataclass, field


@dataclass
class SeqWindow:
    """The last `window` accepted sequence numbers of one peer."""

    window: int = 64
    _seen: set[int] = field(default_factory=set)
    _order: deque[int] = field(default_factory=deque)

    def seen(self, seq: int) -> bool:
        return seq in self._seen

    def accept(self, seq: int) -> bool:
        """True when `seq` is new (and remember it); False for a duplicate."""
        if seq in self._seen:
            return False
        self._seen.add(seq)
        self._order.append(seq)
        while len(self._order) > self.window:
            self._seen.discard(self._order.popleft())
        return True

    def reset(self) -> None:
        self._seen.clear()
        self._order.clear()


@dataclass
class Deduplicator:
    """Per-node SeqWindow; a node's reboot (HELLO/BOOT_REPORT) resets its window."""

    window: int = 64
    max_nodes: int = 4096
    duplicates: int = 0
    _nodes: OrderedDict[int, SeqWindow] = field(default_factory=OrderedDict)

    def accept(self, node_id: int, seq: int) -> bool:
        win = self._nodes.get(node_id)
        if win is None:
            win = self._nodes[node_id] = SeqWindow(self.window)
            while len(self._nodes) > self.max_nodes:
                self._nodes.popitem(last=False)
        if win.accept(seq):
            return True
        self.duplicates += 1
        return False

    def seen(self, node_id: int, seq: int) -> bool:
        win = self._nodes.get(node_id)
        return win is not None and win.seen(seq)

    def reset(self, node_id: int) -> None:
        self._nodes.pop(node_id, None)


@dataclass
class ReplayGuard:
    """Auth-time window plus sequence memory, for signed (UDP) frames."""

    window_s: int = 30
    seqs: Deduplicator = field(default_factory=Deduplicator)

    def check(self, node_id: int, seq: int, auth_time: int, now_s: float) -> str | None:
        """None when the frame is fresh; else the reason ("stale" or "replay")."""
        if abs(now_s - auth_time) > self.window_s:
            return "stale"
        if not self.seqs.accept(node_id, seq):
            return "replay"
        return None


@dataclass(frozen=True)
class Backoff:
    """Retransmission delays: base * factor**attempt, capped, with +-jitter."""

    base_s: float = 0.05
    factor: float = 2.0
    cap_s: float = 2.0
    jitter: float = 0.2
    attempts: int = 4  # retransmissions after the first send

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        d = min(self.cap_s, self.base_s * self.factor**attempt)
        if self.jitter:
            r = (rng or random).uniform(-self.jitter, self.jitter)
            d *= 1 + r
        return d

    def delays(self, rng: random.Random | None = None) -> list[float]:
        return [self.delay(i, rng) for i in range(self.attempts)]
