"""The resolver's routes (issue 12) in the role table: public. They hold no county's
records beyond what a scanned label makes public (product, producer organisation,
county, certificates' public fields), so the county-isolation table does not list them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from tests.support.api import ApiEnv
from tests.support.epcis import gtin

Headers = dict[str, str]


def _get(path: str) -> Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]:
    async def call(e: ApiEnv, h: Headers) -> httpx.Response:
        # the role table runs every route for every role from one address: a fresh
        # rate-limit budget for each request (the limit has its own tests)
        e.app.state.resolver_limiter = None
        return await e.client.get(path, headers=h)

    return call


RESOLVER_REQUESTS: dict[tuple[str, str], Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]] = {
    ("GET", "/01/{rest}"): _get(f"/01/{gtin(1299)}/10/L1"),
    ("GET", "/gtin/{rest}"): _get(f"/gtin/{gtin(1299)}"),
    ("GET", "/.well-known/gs1resolver"): _get("/.well-known/gs1resolver"),
}
