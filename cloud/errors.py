"""The API's error shape, one for every error response: ``{"detail": str, "field": str?}``."""

from __future__ import annotations

import re
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException


class Error(BaseModel):
    """Every error the API returns. ``field`` names the offending input when there is one."""

    detail: str = Field(description="What went wrong and what to do about it.")
    field: str | None = Field(
        default=None, description="The input at fault, e.g. 'query.every' or 'body.county'."
    )


class ApiError(HTTPException):
    """An HTTPException that can name the input at fault."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail, headers=headers)
        self.field = field


_DESCRIPTIONS = {
    401: "Not authenticated: send 'Authorization: Bearer <token>' or 'X-API-Key'.",
    403: "Authenticated, but this role may not do this.",
    404: "Not found, or not in a county you can see.",
    409: "Conflicts with an existing record.",
    422: "An input is invalid; 'field' names it.",
    429: "Too many failed attempts; retry after the seconds in 'Retry-After'.",
    503: "A backing store is unavailable; retry later.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` documenting the given error codes with the Error model."""
    return {code: {"model": Error, "description": _DESCRIPTIONS[code]} for code in codes}


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


async def http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    # Starlette's own (no route matched: 404, wrong method: 405) as well as ours.
    assert isinstance(exc, StarletteHTTPException)
    body = Error(detail=str(exc.detail), field=getattr(exc, "field", None))
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=exc.status_code, headers=exc.headers
    )


#: A validator that checks several fields at once (a model validator) says which one is at
#: fault by starting its message with it: ``"tier: a station is ..."``.
_NAMED = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*): (.+)$", re.S)


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = _loc(first.get("loc", ()))
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    named = _NAMED.match(msg) if first.get("type") == "value_error" else None
    if named is not None:  # the validator named the field within what pydantic located
        field = f"{field}.{named.group(1)}" if field else named.group(1)
        msg = named.group(2)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    body = Error(detail=f"{field}: {msg}{more}" if field else msg + more, field=field or None)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=422)
