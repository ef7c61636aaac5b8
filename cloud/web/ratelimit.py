"""Per-client-address rate limit of the public routes: the resolver, the scan endpoint and
the public-service API and H5 site (one budget per address for all of them).

A token bucket per client address: ``burst`` requests at once, refilled at ``rate``
per second (settings ``resolver_rate_burst`` / ``resolver_rate_per_s``). An empty
bucket answers 429 with ``Retry-After`` (whole seconds until a token is back) and a
bilingual ``detail``. The buckets live in the process (each API process limits on its own:
with N processes behind a balancer a client gets at most N times the rate); idle
buckets are dropped so memory stays bounded whatever addresses arrive.

The client address is the TCP peer's, unless the peer is a trusted proxy (setting
``trusted_proxies``: addresses or CIDR networks): then ``X-Forwarded-For`` is read from
the right, skipping trusted proxies, and the first address that is not one is the
client. A client that sends its own X-Forwarded-For directly gains nothing.

Use: ``dependencies=[Depends(rate_limit)]`` on a route, or ``await check(request)``
(the scan endpoint shares the same buckets: one budget per address for both).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from cloud.errors import ApiError
from cloud.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(text: str) -> tuple[Network, ...]:
    """``"127.0.0.1, 10.0.0.0/8"`` -> networks; ValueError naming a bad entry."""
    out: list[Network] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"trusted_proxies: {item!r} is not an IP address or CIDR network"
            ) from None
    return tuple(out)


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_address(request: Request, proxies: tuple[Network, ...]) -> str:
    """The client's address: the peer's, or from X-Forwarded-For when the peer is a
    trusted proxy (rightmost address that is not a trusted proxy)."""
    peer = request.client.host if request.client else "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _trusted(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage from beyond the proxy: limit the proxy's peer entry
    return peer


class TokenBuckets:
    """Token buckets by key. ``take(key)`` answers None (allowed) or the seconds to wait."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        #: key -> (tokens, at): a pair of floats, which the collector leaves untracked
        #: (a bucket object per address was walked by every full collection)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float | None:
        if self.rate <= 0:
            return None
        now = self.clock()
        found = self._buckets.get(key)
        if found is None:
            tokens = float(self.burst)
        else:
            self._buckets.move_to_end(key)
            tokens = min(float(self.burst), found[0] + (now - found[1]) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if found is None and len(self._buckets) > self.max_keys:
            self._prune(now)
        return None if allowed else (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Drop full buckets (idle long enough to refill), oldest first; then, if still
        too many, the least recently used."""
        full_after = self.burst / self.rate
        for key in list(self._buckets):
            if now - self._buckets[key][1] >= full_after:
                del self._buckets[key]
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass(frozen=True)
class Limiter:
    buckets: TokenBuckets
    proxies: tuple[Network, ...]


def limiter_for(settings: Settings) -> Limiter:
    return Limiter(
        TokenBuckets(settings.resolver_rate_per_s, settings.resolver_rate_burst),
        parse_proxies(settings.trusted_proxies),
    )


def limiter(request: Request) -> Limiter:
    """The app's limiter (made from its settings on first use)."""
    state = request.app.state
    found = getattr(state, "resolver_limiter", None)
    if found is None:
        found = limiter_for(state.settings)
        state.resolver_limiter = found
    return found


async def check(request: Request) -> None:
    """Take one token for the request's client address; 429 (ApiError, Retry-After,
    a bilingual detail) when none is left."""
    lim = limiter(request)
    wait = lim.buckets.take(client_address(request, lim.proxies))
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        raise ApiError(
            429,
            f"请求过于频繁，请 {seconds} 秒后再试。Too many requests from your address; "
            f"retry after {seconds} s.",
            headers={"Retry-After": str(seconds)},
        )


#: A route dependency: ``dependencies=[Depends(rate_limit)]``.
rate_limit = check
