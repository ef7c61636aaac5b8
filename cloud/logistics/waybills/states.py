"""The waybill lifecycle: a pure state machine (no I/O).

    created → assigned → loaded → departed → arrived → delivered
    exceptions: rejected (refused: before loading, or by the receiver on arrival),
    damaged (found damaged in transit or on arrival), returned (back to the shipper)

:func:`check` refuses an illegal transition with :class:`IllegalTransition`, whose
message names the current state, the requested one and the states allowed from it.
"""

from __future__ import annotations

from typing import Final, Literal

Status = Literal[
    "created", "assigned", "loaded", "departed", "arrived", "delivered",
    "rejected", "damaged", "returned",
]  # fmt: skip
STATUSES: Final = (
    "created", "assigned", "loaded", "departed", "arrived", "delivered",
    "rejected", "damaged", "returned",
)  # fmt: skip
NAMES_ZH: Final = {
    "created": "已创建", "assigned": "已派车", "loaded": "已装车", "departed": "已发车",
    "arrived": "已到达", "delivered": "已签收", "rejected": "已拒收", "damaged": "货损",
    "returned": "已退回",
}  # fmt: skip

#: status -> the statuses it may move to
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "created": frozenset({"assigned", "rejected"}),
    "assigned": frozenset({"assigned", "loaded", "rejected"}),
    "loaded": frozenset({"departed", "damaged", "returned"}),
    "departed": frozenset({"arrived", "damaged", "returned"}),
    "arrived": frozenset({"delivered", "rejected", "damaged", "returned"}),
    "rejected": frozenset({"returned"}),
    "damaged": frozenset({"delivered", "returned"}),
    "delivered": frozenset(),
    "returned": frozenset(),
}
TERMINAL: Final = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
#: Statuses in which goods are on the vehicle (the lots on board).
ON_BOARD: Final = frozenset({"loaded", "departed", "arrived", "damaged"})
#: Statuses reached only through their own endpoint (they need more than a status).
SPECIAL: Final = {"delivered": "POST /api/v1/logistics/waybills/{id}/deliver (with the proof)"}


class IllegalTransition(ValueError):
    def __init__(self, current: str, wanted: str) -> None:
        allowed = sorted(TRANSITIONS.get(current, ()))
        self.current, self.wanted = current, wanted
        super().__init__(
            f"a waybill that is {current} ({NAMES_ZH.get(current, '?')}) cannot become "
            f"{wanted} ({NAMES_ZH.get(wanted, '?')}); from {current} it may become: "
            + (", ".join(allowed) if allowed else "nothing (final)")
        )


def check(current: str, wanted: str) -> None:
    if wanted not in STATUSES:
        raise ValueError(f"unknown status {wanted!r}; one of {', '.join(STATUSES)}")
    if wanted not in TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(current, wanted)
