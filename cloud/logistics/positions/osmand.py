"""The OsmAnd HTTP endpoint, answering as Traccar does: ``200`` with an empty body
when the fix is taken (also when a filter left it out: the phone must not resend
it), ``400`` with the reason (``field: why``) on bad input, ``400 unknown device`` for
an id no live tracker has (Traccar answers 400 too; unknown, rotated and revoked
ids read the same). A request with more than one fix (our batch) is answered with
a small JSON summary. ``503`` when the store is down: nothing stored, send again.

Served on its own port (:func:`osmand_app`, 5055 by default) and under
``/api/v1/logistics/osmand`` (:mod:`.router`).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cloud.logistics.positions.fix import FixError
from cloud.logistics.positions.intake import PositionIntake, UnknownDevice
from cloud.logistics.positions.parse import Parsed, json_locations, parse_json_location, parse_query
from cloud.timeseries import TimeSeriesError

log = logging.getLogger(__name__)

METHODS = ["GET", "POST"]


def _bad(reason: str, status: int, field: str | None, as_json: bool) -> Response:
    """Traccar's plain-text refusal (own port), or the API's Error model (``detail``,
    ``field``) under ``/api/v1``; the apps read only the status."""
    if as_json:
        body = {"detail": reason} | ({"field": field} if field else {})
        return Response(orjson.dumps(body), status_code=status, media_type="application/json")
    return Response(reason + "\n", status_code=status, media_type="text/plain; charset=utf-8")


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise FixError("body", f"{declared} bytes; at most {limit} bytes per request")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise FixError("body", f"more than {limit} bytes; at most {limit} per request")
        chunks.append(chunk)
    return b"".join(chunks)


def query_pairs(query: str) -> list[tuple[str, str]]:
    """``parse_qsl(query, keep_blank_values=True)`` (what Starlette's ``query_params``
    holds), split by hand when nothing in it is quoted (``%``, ``+``): a phone's usual
    query, ~3 us against ~15 us through ``query_params``."""
    if "%" in query or "+" in query:
        return parse_qsl(query, keep_blank_values=True)
    pairs = []
    for field in query.split("&"):
        if field:
            key, _, value = field.partition("=")
            pairs.append((key, value))
    return pairs


async def parse_request(request: Request, intake: PositionIntake) -> tuple[list[Parsed], str]:
    """The fixes of a request and its form (query, json, batch); FixError when bad."""
    now = intake.now_ms()
    limit = intake.settings.max_batch_fixes
    body = b""
    if request.method == "POST":
        body = await _body(request, intake.settings.max_body_bytes)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body.strip() and (ctype == "application/json" or body.lstrip()[:1] in (b"{", b"[")):
        try:
            doc: Any = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise FixError("body", f"not valid JSON: {exc}") from None
        device, entries = json_locations(doc)
        if len(entries) > limit:
            raise FixError(
                "locations", f"{len(entries)} fixes in one request; at most {limit} (send less)"
            )
        parsed = [parse_json_location(device, loc, now, field=f) for f, loc in entries]
        return parsed, "batch" if len(parsed) > 1 else "json"
    params: dict[str, object] = {}
    for key, value in query_pairs(request.scope["query_string"].decode("latin-1")):
        params.setdefault(key, value)
    if body.strip() and ctype in ("application/x-www-form-urlencoded", ""):
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise FixError("body", "not a form-encoded query (key=value&...)") from None
        for key, value in pairs:
            params.setdefault(key, value)
    if not params:
        raise FixError("id", "missing: no fix in the request (query or JSON body)")
    return [parse_query(params, now)], "query"


async def handle(
    request: Request, intake: PositionIntake, *, json_errors: bool = False
) -> Response:
    metrics = intake.metrics
    try:
        parsed, form = await parse_request(request, intake)
        outcome = await intake.accept(parsed, form)
    except FixError as exc:
        metrics.refused["bad_input"] += 1
        if exc.field in ("locations", "body") and "at most" in exc.reason:
            metrics.refused["too_large"] += 1
            return _bad(str(exc), 413, exc.field, json_errors)
        return _bad(str(exc), 400, exc.field, json_errors)
    except UnknownDevice:
        metrics.refused["unknown_device"] += 1
        return _bad("unknown device", 400, None, json_errors)
    except TimeSeriesError as exc:
        metrics.refused["store_error"] += 1
        log.warning("positions not stored (the phone will resend): %s", exc)
        return _bad("the position store is unavailable; send again later", 503, None, json_errors)
    if form == "batch":
        summary = {"accepted": outcome.accepted, "filtered": dict(outcome.filtered)}
        return Response(orjson.dumps(summary), media_type="application/json")
    return Response(status_code=200)


def osmand_app(intake: PositionIntake) -> Starlette:
    """The OsmAnd server of its own port: every path but ``/ping`` takes fixes (as
    Traccar's does)."""

    async def endpoint(request: Request) -> Response:
        return await handle(request, intake)

    async def ping(_request: Request) -> Response:
        return Response(status_code=200)

    return Starlette(
        routes=[
            # liveness (and the benchmark's trivial endpoint): no fix is ever sent here
            Route("/ping", ping, methods=["GET"]),
            Route("/", endpoint, methods=METHODS),
            Route("/{path:path}", endpoint, methods=METHODS),
        ]
    )
