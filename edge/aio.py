"""Small asyncio helpers shared by the gateway's modules."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def wait_event(event: asyncio.Event, limit_s: float | None) -> bool:
    """Wait for ``event`` at most ``limit_s`` seconds (None: no limit); True if it is set.

    A timer-bounded wait on an event (never a polling loop). Cancelling the caller
    cancels the inner wait too.
    """
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=limit_s)
    finally:
        if not waiter.done():
            waiter.cancel()
    return event.is_set()


async def cancel_all(
    tasks: list[asyncio.Task[None]], within_s: float | None = None
) -> set[asyncio.Task[None]]:
    """Cancel ``tasks`` and wait until they have finished, at most ``within_s`` seconds
    (None: no limit). Returns the tasks still running then (a library that swallowed the
    cancellation); the caller logs them and moves on rather than hang a shutdown."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return set()
    _, pending = await asyncio.wait(tasks, timeout=within_s)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("task %s ended with %r", task.get_name(), task.exception())
    return pending
