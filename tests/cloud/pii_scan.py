"""A PII scan of the public surface: fetch every public route of the app and assert that
none of the seeded personal values (names, ID numbers, phones) appears in any answer.

- :func:`public_routes` enumerates the routes that declare ``require("public")`` and
  every route under ``/h5`` and ``/disclosure``, so a new public route is scanned (or
  must be listed) without anyone remembering it.
- :func:`urls_for` turns them into requests: a route with path parameters needs its
  concrete URLs in ``fill`` (template -> URLs); extra URLs (a lookup that redirects to
  a page, a filtered list) go in ``extra``. A public route that is neither fillable nor
  listed in ``exempt`` (with the reason) is returned as missing: the test fails on it.
- :func:`variants` spells a value as answers may carry it: as given, without spaces
  and hyphens, in either case, JSON-escaped and percent-encoded.
- :func:`scan` fetches each URL (redirects followed, so a redirect's target is scanned
  too) and returns every (url, value) found, searched in the decoded body and in the
  response headers.

The lead extends the seeded values (households of cloud/services/poverty, trainees,
station operators) and ``fill`` as the other parts of issue 15 land.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from cloud.auth.deps import permission_of
from tests.cloud.test_api_roles import _routes

#: Path prefixes of the public pages, whatever permission their routes declare.
PUBLIC_PREFIXES = ("/h5", "/disclosure")
PARAM = re.compile(r"\{\w+\}")


@dataclass(frozen=True, slots=True)
class Finding:
    url: str
    value: str
    where: str  # "body" or a header's name

    def __str__(self) -> str:
        return f"{self.value!r} in the {self.where} of {self.url}"


def public_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every public route, sorted."""
    out = []
    for (method, path), route in _routes(app).items():
        if permission_of(route.dependant) == "public" or path.startswith(PUBLIC_PREFIXES):
            out.append((method, path))
    return sorted(out, key=lambda k: (k[1], k[0]))


def urls_for(
    routes: Iterable[tuple[str, str]],
    fill: Mapping[str, list[str]],
    exempt: Mapping[tuple[str, str], str],
    extra: Iterable[str] = (),
) -> tuple[list[str], list[tuple[str, str]]]:
    """(GET URLs to scan, routes neither scannable nor exempt)."""
    urls: list[str] = []
    missing: list[tuple[str, str]] = []
    for method, path in routes:
        if (method, path) in exempt:
            continue
        if method != "GET":
            missing.append((method, path))
        elif path in fill:
            urls.extend(fill[path])
        elif PARAM.search(path):
            missing.append((method, path))
        else:
            urls.append(path)
    return urls + list(extra), missing


def variants(value: str) -> set[str]:
    compact = re.sub(r"[\s\-]", "", value)
    out = {value, compact, value.upper(), value.lower(), compact.upper(), compact.lower()}
    out |= {json.dumps(v)[1:-1] for v in list(out)}  # \\uXXXX escapes of non-ASCII
    out |= {quote(v) for v in list(out)}
    return {v for v in out if len(v) >= 2}


async def scan(
    client: httpx.AsyncClient,
    urls: Iterable[str],
    seeded: Iterable[str],
    statuses: dict[str, int] | None = None,
) -> list[Finding]:
    """Every seeded value (in any of its :func:`variants`) found in the answers;
    ``statuses`` (when given) gets each URL's final status, so a caller can check that
    the pages it meant to scan answered (a 429 or 404 scans nothing)."""
    wanted = {v: s for s in seeded for v in variants(s)}
    found: list[Finding] = []
    for url in urls:
        r = await client.get(url, follow_redirects=True)
        if statuses is not None:
            statuses[url] = r.status_code
        body = r.content.decode("utf-8", errors="replace")
        for v, original in wanted.items():
            if v in body:
                found.append(Finding(url, original, "body"))
            for name, header in r.headers.items():
                if v in header:
                    found.append(Finding(url, original, name))
    return found
