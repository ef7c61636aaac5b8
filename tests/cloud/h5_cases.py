"""The public H5 site's routes (cloud/services/h5) in the roles table (``H5_REQUESTS``)
and the county-isolation table (``H5_CASES``).

They are public by design: the home page's figures are public aggregates of the four
counties and a lot is public through its printed code, so every caller, of whatever
county, gets the same answer as an anonymous visitor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from tests.cloud.trace_cases import _lot
from tests.support.api import OTHER, ApiEnv

Headers = dict[str, str]
Case = Callable[[ApiEnv, Headers], Awaitable[None]]
Call = Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]


def _get(path: str, **params: str) -> Call:
    async def call(e: ApiEnv, h: Headers) -> httpx.Response:
        # the role table runs every route for every role from one address: a fresh
        # rate-limit budget for each request (the limit has its own test, test_h5.py)
        e.app.state.resolver_limiter = None
        return await e.client.get(path, params=params, headers=h)

    return call


async def _lookup(e: ApiEnv, h: Headers) -> httpx.Response:
    lot = await _lot(e, OTHER, "H5-OTHER")
    return await _get("/api/v1/public/lookup", code=lot)(e, h)


def _same(call: Call) -> Case:
    async def case(env: ApiEnv, h: Headers) -> None:
        a, b = await call(env, h), await call(env, {})
        assert a.status_code == b.status_code == 200, (a.text, b.text)
        assert a.content == b.content

    return case


H5_REQUESTS: dict[tuple[str, str], Call] = {
    ("GET", "/api/v1/public/home"): _get("/api/v1/public/home"),
    ("GET", "/api/v1/public/lookup"): _lookup,
    ("GET", "/h5/"): _get("/h5/"),
    ("GET", "/h5/trace"): _get("/h5/trace"),
}

H5_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/public/home"): _same(_get("/api/v1/public/home")),
    ("GET", "/api/v1/public/lookup"): _same(_lookup),
}
