"""No request of the API goes through FastAPI's thread pool for its own code: FastAPI
runs a plain ``def`` route or dependency in a worker thread (``run_in_threadpool``),
a thread hop and a wait for the GIL per request, and several turns of the event loop.
At 100 clients flat out on a busy loop that was the public showcase list's latency, six
times the stations map's beside it (``page_params`` was a plain ``def``; ``dehong bench
services``)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIRoute

from cloud.app import create_app
from cloud.settings import Settings

#: the login form (OAuth2's class, parsed once per sign-in, beside a password hash)
ALLOWED = {"OAuth2PasswordRequestForm"}


def _calls(dependant: Any) -> Iterator[Any]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _in_threadpool(call: Any) -> bool:
    """What FastAPI would run in its thread pool: neither a coroutine function nor an
    async generator, nor an object whose ``__call__`` is one (security schemes)."""
    if inspect.isclass(call):
        return True
    for fn in (call, getattr(call, "__call__", None)):  # noqa: B004 - the bound __call__
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            return False
    return True


def _routes() -> Iterator[tuple[str, Any]]:
    from fastapi.routing import iter_route_contexts

    app = create_app(Settings(demo=True))
    for c in iter_route_contexts(app.routes):
        if isinstance(c.route, APIRoute):
            yield c.path, c.dependant


def test_no_route_or_dependency_runs_in_the_thread_pool() -> None:
    found = sorted(
        {
            f"{path}: {getattr(call, '__qualname__', type(call).__qualname__)}"
            for path, dependant in _routes()
            for call in _calls(dependant)
            if _in_threadpool(call) and getattr(call, "__qualname__", "") not in ALLOWED
        }
    )
    assert not found, "plain def routes or dependencies (make them async def):\n" + "\n".join(found)
