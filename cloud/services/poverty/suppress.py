"""Small-cell and complementary suppression of the public poverty-alleviation tables.

The published table is a hierarchy: village counts add up to their township's, the
townships' to their county's (the prefecture total is not published). Each such sum
is an equation a reader can solve. Rules:

1. **Primary**: a count under :data:`MIN_CELL` (0 included) is suppressed.
2. **Complementary**: in every equation (a parent and its children) the number of
   suppressed members is never exactly one: a lone suppressed member would be its
   parent minus its siblings. When it is one, the smallest published child of that
   equation (its parent, when none is left) is suppressed too; repeated until no
   equation changes. Equations of a tree share at most one member, so with none
   holding a lone unknown no suppressed cell is determined by the published figures
   (tests/cloud/test_services_poverty.py tries: it solves the published system for
   each suppressed cell).

Income is published with the same mask as the counts (it adds up the same way).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

MIN_CELL = 5


@dataclass
class Cell:
    key: str  # county (6), township (12) or village (12) code
    level: str
    households: int
    income_fen: int
    parent: str | None
    children: list[str] = field(default_factory=list)
    suppressed: bool = False
    primary: bool = False


def build(rows: Iterable[tuple[str, str, str, int, int]]) -> dict[str, Cell]:
    """``rows``: (county, township code, village code, households, income fen) per
    village -> every cell of the hierarchy, summed."""
    cells: dict[str, Cell] = {}
    for county, township, village, n, fen in rows:
        for key, level, parent in (
            (county, "county", None),
            (township, "township", county),
            (village, "village", township),
        ):
            c = cells.get(key)
            if c is None:
                c = cells[key] = Cell(key, level, 0, 0, parent)
                if parent is not None:
                    cells[parent].children.append(key)
            c.households += n
            c.income_fen += fen
    return cells


def suppress(cells: dict[str, Cell], min_cell: int = MIN_CELL) -> dict[str, Cell]:
    for c in cells.values():
        c.suppressed = c.primary = c.households < min_cell
    equations = [(c.key, c.children) for c in cells.values() if c.children]
    changed = True
    while changed:
        changed = False
        for parent, children in equations:
            members = [parent, *children]
            hidden = [m for m in members if cells[m].suppressed]
            if len(hidden) != 1:
                continue
            shown = sorted(
                (m for m in children if not cells[m].suppressed),
                key=lambda m: (cells[m].households, m),
            )
            pick = shown[0] if shown else parent
            cells[pick].suppressed = True
            changed = True
    return cells
