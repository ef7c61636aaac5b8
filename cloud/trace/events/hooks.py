"""What other trace areas do when events are stored, in the storing transaction.

:func:`cloud.trace.events.store.store` calls :func:`check_event` for each event before
anything is written (extension fields other areas define, e.g. ``dh:testResult``: an
error refuses the event with its field, like any other), and :func:`after_store` with
the events it stored, before the caller commits (test result rows, brand
re-evaluation). The handlers are named here, one line each, and imported when first
called, so that the areas may import the event store without a cycle.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from cloud.trace.events.store import StoredEvent

#: ``(event, path, context) -> [(field, reason)]``: pure checks of one event
CHECKS: tuple[str, ...] = ("cloud.trace.results.extension:check_event",)
#: ``async (session, stored events, context) -> None``: run after the events are written
AFTER_STORE: tuple[str, ...] = (
    "cloud.trace.results.service:events_stored",
    "cloud.trace.brand.service:events_stored",
)

Check = Callable[[dict[str, Any], str, "list[Any] | None"], list[tuple[str, str]]]
After = Callable[[AsyncSession, "Sequence[StoredEvent]", "list[Any] | None"], Awaitable[None]]


@cache
def _resolve(name: str) -> Any:
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def check_event(
    event: dict[str, Any], path: str, context: list[Any] | None
) -> list[tuple[str, str]]:
    """Every (field, reason) the registered checks find in ``event``."""
    found: list[tuple[str, str]] = []
    for name in CHECKS:
        check: Check = _resolve(name)
        found.extend(check(event, path, context))
    return found


async def after_store(
    session: AsyncSession, stored: Sequence[StoredEvent], context: list[Any] | None
) -> None:
    """Run every registered handler on the events this call stored (new ones and
    declarations; unchanged ones are left out)."""
    changed = [s for s in stored if s.outcome != "unchanged"]
    if not changed:
        return
    for name in AFTER_STORE:
        handler: After = _resolve(name)
        await handler(session, changed, context)
