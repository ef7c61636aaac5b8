"""The phone page's routes (/m/trace, issue 11) in the role table: public (the page and
its service worker hold no data; every call they make to the API needs a login). The
county-isolation table covers /api/v1 only; these hold no county's records."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from tests.support.api import ApiEnv

Headers = dict[str, str]

PHONE_REQUESTS: dict[tuple[str, str], Callable[[ApiEnv, Headers], Awaitable[httpx.Response]]] = {
    ("GET", "/m/trace"): lambda e, h: e.client.get("/m/trace", headers=h),
    ("GET", "/m/trace/sw.js"): lambda e, h: e.client.get("/m/trace/sw.js", headers=h),
}
