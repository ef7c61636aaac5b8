"""Small asyncio helpers shared by the gateway's modules."""

from __future__ import annotations

import asyncio


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


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait until every one has finished (errors are theirs to log)."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
