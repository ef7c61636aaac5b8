"""The slots of the sections whose figures live in other packages (stations, training,
poverty, registry). A package plugs its ``monthly_figures`` in with :func:`register`;
until it does, its section is exported with every figure null and status 未接入
("not connected"), never a typed-in number.

A provider: ``async def monthly_figures(session, county, month) -> dict[str, int | str |
None]`` (county: a GB/T 2260 county code; month: ``YYYY-MM``, Beijing). The keys it
answers are exported as they are; the section's expected keys (fields.py) that it
leaves out are null. The lead wires them in ``cloud/app.py`` / ``dehong`` start-up::

    from cloud.services.mofcom.providers import register
    from cloud.services.stations.service import monthly_figures as stations_figures
    register("stations", stations_figures)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from cloud.services.mofcom.fields import SECTION_BY_KEY

Figures = dict[str, int | str | None]
Provider = Callable[[Any, str, str], Awaitable[Figures]]

#: section key -> its provider (only sections with ``provided=True``)
PROVIDERS: dict[str, Provider] = {}


def register(section: str, provider: Provider) -> None:
    """Plug ``provider`` into ``section`` (``stations``, ``training``, ``poverty``,
    ``registry``); ValueError for a section that takes no provider."""
    spec = SECTION_BY_KEY.get(section)
    if spec is None or not spec.provided:
        slots = ", ".join(k for k, s in SECTION_BY_KEY.items() if s.provided)
        raise ValueError(f"section {section!r} takes no provider; the slots are: {slots}")
    PROVIDERS[section] = provider


def unregister(section: str) -> None:
    PROVIDERS.pop(section, None)


def connected() -> dict[str, bool]:
    """Each provider slot and whether something is plugged in."""
    return {k: k in PROVIDERS for k, s in SECTION_BY_KEY.items() if s.provided}
