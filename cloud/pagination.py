"""One pagination convention for every list endpoint: keyset, with an opaque cursor.

A list endpoint takes ``?limit=`` (page size) and ``?cursor=`` (where the previous
page ended), answers with the page as it always did (a JSON array, or its page
object), and, when there is more, a ``Link`` header (RFC 8288)::

    Link: </api/v1/gateways?limit=100&cursor=WyI1MzMxMDMiLCJndy1tMSJd>; rel="next"

Follow ``rel="next"`` until there is none. The cursor is the sort key of the last
row of the page (base64url of JSON): stable under inserts and deletes, unlike an
offset, and cheap at any depth (an index seek, not a scan of the rows before). It
is not a secret and not a permission: the principal's county filter applies to
every page. A malformed cursor is a 422 naming ``query.cursor``. docs/api.md.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Depends, Query, Request, Response
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from cloud.errors import ApiError

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Key:
    """One column of a keyset order: the attribute, its direction, and how to read
    it back from JSON (``int``, ``str``, ``datetime`` or ``date``)."""

    column: InstrumentedAttribute[Any]
    desc: bool = False
    kind: type = str


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(orjson.dumps(plain)).decode().rstrip("=")


def _bad(reason: str) -> ApiError:
    return ApiError(
        422, f"cursor: {reason}; use the cursor of a Link rel=next header", field="query.cursor"
    )


def decode_cursor(cursor: str, keys: Sequence[Key]) -> list[Any]:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise _bad("not a cursor of this API") from None
    if not isinstance(raw, list) or len(raw) != len(keys):
        raise _bad("not a cursor of this list")
    out: list[Any] = []
    for value, key in zip(raw, keys, strict=True):
        if key.kind is datetime:
            if not isinstance(value, str):
                raise _bad("not a cursor of this list")
            try:
                out.append(datetime.fromisoformat(value))
            except ValueError:
                raise _bad("not a cursor of this list") from None
        elif key.kind is date:
            if not isinstance(value, str):
                raise _bad("not a cursor of this list")
            try:
                out.append(date.fromisoformat(value))
            except ValueError:
                raise _bad("not a cursor of this list") from None
        elif key.kind is int:
            if type(value) is not int or not -(2**63) <= value < 2**63:
                raise _bad("not a cursor of this list")
            out.append(value)
        elif not isinstance(value, str):
            raise _bad("not a cursor of this list")
        else:
            out.append(value)
    return out


def _after(keys: Sequence[Key], values: Sequence[Any]) -> Any:
    """Rows strictly after ``values`` in the keyset order (expanded, so each value is
    bound with its column's type on every database)."""
    clauses = []
    for i, key in enumerate(keys):
        equal = [k.column == v for k, v in zip(keys[:i], values[:i], strict=True)]
        step = key.column < values[i] if key.desc else key.column > values[i]
        clauses.append(and_(*equal, step))
    return or_(*clauses)


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Page size (1-1000, default 100)")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description="From a Link rel=next header; omit for page 1"),
    ] = None,
) -> PageParams:
    return PageParams(limit, cursor)


PageDep = Annotated[PageParams, Depends(page_params)]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: list[T]
    next_cursor: str | None


async def fetch_page(
    session: AsyncSession,
    query: Select[Any],
    keys: Sequence[Key],
    params: PageParams,
    *,
    key_of: Callable[[Any], Sequence[Any]] | None = None,
) -> Page[Any]:
    """One page of ``query`` (filters applied, no order) in ``keys`` order."""
    if params.cursor is not None:
        query = query.where(_after(keys, decode_cursor(params.cursor, keys)))
    query = query.order_by(*(k.column.desc() if k.desc else k.column for k in keys))
    rows = list((await session.execute(query.limit(params.limit + 1))).scalars())
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    if not more or not rows:
        return Page(rows, None)
    last = rows[-1]
    values = key_of(last) if key_of else [getattr(last, k.column.key) for k in keys]
    return Page(rows, encode_cursor(values))


def link_next(request: Request, response: Response, next_cursor: str | None) -> None:
    """Set ``Link: <...cursor=...>; rel="next"`` when there is a next page."""
    if next_cursor is None:
        return
    url = request.url.include_query_params(cursor=next_cursor)
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
