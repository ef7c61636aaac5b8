"""Conditional GET for public JSON and pages: a strong ETag of the body, 304 when the
client already holds it, and the cache headers a phone, a WeChat menu or a CDN obeys.

``cached_json(request, payload, max_age=60)`` serialises ``payload`` once (orjson),
tags it, and answers 304 to a matching ``If-None-Match``; ``fresh(...)`` does the same for
a body a caller built itself. Public answers carry ``Cache-Control: public,
max-age=N``; revalidation is cheap because the tag is a hash of the bytes sent.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from fastapi import Request, Response


def etag(body: bytes) -> str:
    """A strong entity tag of ``body`` (quoted, as HTTP wants it)."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def fresh(request: Request, tag: str, headers: dict[str, str]) -> Response | None:
    """304 (with ``headers`` and the tag) when the client's ``If-None-Match`` names
    ``tag`` or ``*``; None when the full answer must be sent."""
    wanted = request.headers.get("if-none-match")
    if wanted and (wanted.strip() == "*" or tag in [t.strip() for t in wanted.split(",")]):
        return Response(status_code=304, headers={**headers, "ETag": tag})
    return None


def public_headers(max_age: int) -> dict[str, str]:
    return {"Cache-Control": f"public, max-age={max_age}", "Vary": "Accept-Encoding"}


def cached_json(request: Request, payload: Any, *, max_age: int = 60) -> Response:
    """``payload`` as JSON with a strong ETag and public cache headers, or 304."""
    body = orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)
    tag = etag(body)
    headers = public_headers(max_age)
    return fresh(request, tag, headers) or Response(
        body, media_type="application/json", headers={**headers, "ETag": tag}
    )
