"""Custody rules, pure: from the events that name a lot (or the containers it travels
in), in time order, the lot's custody intervals — which place held it, from when to
when.

EPCIS's own rule is the base: an event's ``bizLocation`` is where its objects are
*after* the event, until a later event says otherwise (EPCIS 2.0 §7.3.4). On top of
it (the table is in cloud/trace/README.md, "Custody"):

- ``sensor_reporting`` events (our evidence among them) and events carrying an
  ``errorDeclaration`` move nothing;
- shipping, departing or transporting **without** a bizLocation puts the lot in
  transit: its interval closes and none opens until an event gives a place;
- an ObjectEvent with action ``DELETE`` (or bizStep decommissioning, destroying) ends
  the lot's custody;
- an AggregationEvent ``ADD``/``OBSERVE`` puts the lot (or a container) into its
  parent: from then on the lot is wherever its outermost container is; ``DELETE``
  takes it out (no children listed: every child), leaving it where the container is;
- a TransformationEvent ends the custody of its input lots and begins its outputs'
  at its bizLocation (none: no place until a later event gives one); a lot that is
  input and output continues;
- any other event naming the lot or one of its containers with a bizLocation places
  the outermost container there (an object cannot be somewhere its container is not);
  without a bizLocation it changes nothing.

An interval opens when the lot's place becomes a place and closes when it changes (to
another place, to in transit, or custody ends); an event that leaves the place as it
was (storing at the room it is in, packing in place) changes nothing. Events are taken
in eventTime order, then in the order they were stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

#: the holder standing for the lot itself (containers are named by their URI)
LOT = "@lot"
#: bizSteps that move nothing
INERT_STEPS = frozenset({"sensor_reporting"})
#: bizSteps that, without a bizLocation, put the objects in transit
TRANSIT_STEPS = frozenset({"shipping", "departing", "transporting"})
#: bizSteps that end an object's custody (as action DELETE does)
END_STEPS = frozenset({"decommissioning", "destroying"})
#: the deepest nesting of containers followed (case in pallet in container ...)
MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Fact:
    """What custody needs of one stored event. ``objects``: ``(role, holder)`` pairs,
    the holder being :data:`LOT` for an identifier of the lot (its class or one of its
    instances) and the normalised URI otherwise; roles as in ``trace_event_objects``."""

    seq: int
    event_id: str
    event_type: str
    event_time: datetime
    action: str | None
    biz_step: str | None
    biz_location: str | None
    objects: tuple[tuple[str, str], ...]
    declared: bool = False

    def holders(self, *roles: str) -> list[str]:
        return list(dict.fromkeys(h for r, h in self.objects if r in roles))


@dataclass(slots=True)
class Interval:
    """The lot at ``place`` (a normalised bizLocation URI) from ``start`` until ``end``
    (None: still there). ``opened_by``/``closed_by``: the eventIDs that did it;
    ``container``: the outermost container the lot was in when the interval opened."""

    place: str
    start: datetime
    opened_by: str
    end: datetime | None = None
    closed_by: str | None = None
    container: str | None = None

    @property
    def closed(self) -> bool:
        return self.end is not None


@dataclass(slots=True)
class _State:
    """Where each holder is: its own place (when it is in no container), its parent."""

    place: dict[str, str | None] = field(default_factory=dict)
    parent: dict[str, str] = field(default_factory=dict)
    #: whether the lot is in custody at all (commissioned, not ended)
    alive: bool = False

    def root(self, holder: str) -> str:
        seen = {holder}
        while holder in self.parent:
            holder = self.parent[holder]
            if holder in seen:  # a cycle in bad data: stop where it closes
                break
            seen.add(holder)
        return holder

    def where(self, holder: str) -> str | None:
        return self.place.get(self.root(holder))

    def put(self, holder: str, place: str | None) -> None:
        """Place ``holder`` (and what it is in: its outermost container) at ``place``."""
        self.place[self.root(holder)] = place

    def attach(self, child: str, parent: str) -> None:
        if child == parent or self.root(parent) == child:
            return  # an object cannot contain itself
        self.parent[child] = parent

    def detach(self, child: str) -> None:
        if child in self.parent:
            self.place[child] = self.where(child)
            del self.parent[child]


def _apply(s: _State, f: Fact) -> None:
    """One event's effect on the state (the module's rules)."""
    if f.declared or f.biz_step in INERT_STEPS:
        return
    loc = f.biz_location
    if f.event_type == "TransformationEvent":
        inputs = f.holders("input_epc", "input_quantity")
        outputs = f.holders("output_epc", "output_quantity")
        if LOT in outputs:
            was = s.where(LOT) if LOT in inputs and s.alive else None
            s.parent.pop(LOT, None)
            s.place[LOT] = loc if loc is not None else was
            s.alive = True
        elif LOT in inputs:
            s.parent.pop(LOT, None)
            s.place[LOT] = None
            s.alive = False
        return
    if f.event_type == "AggregationEvent":
        parents = f.holders("parent")
        children = f.holders("child", "quantity")
        if not parents:
            return
        parent = parents[0]
        if f.action == "DELETE":
            if not children:  # every child of the parent
                children = [c for c, p in s.parent.items() if p == parent]
            for c in children:
                if s.parent.get(c) == parent:
                    s.detach(c)
                if loc is not None:
                    s.put(c, loc)
            return
        # ADD / OBSERVE: children go into the parent
        if s.where(parent) is None and loc is None:
            first = next((s.where(c) for c in children if s.where(c) is not None), None)
            if first is not None:
                s.put(parent, first)
        for c in children:
            s.attach(c, parent)
            if c == LOT:
                s.alive = True
        if loc is not None:
            s.put(parent, loc)
        return
    if f.event_type == "AssociationEvent":
        return
    # ObjectEvent, TransactionEvent (and an extension event type): the named objects
    named = f.holders("epc", "quantity", "child", "parent")
    if not named:
        return
    if f.action == "DELETE" or f.biz_step in END_STEPS:
        for h in named:
            # a container that ends leaves what it held where it was
            for c in [c for c, p in s.parent.items() if p == h]:
                s.detach(c)
            s.parent.pop(h, None)
            s.place[h] = None
            if h == LOT:
                s.alive = False
        return
    if LOT in named and f.action in ("ADD", "OBSERVE", None):
        s.alive = True
    if loc is not None:
        for h in named:
            s.put(h, loc)
    elif f.biz_step in TRANSIT_STEPS:
        for h in named:
            s.put(h, None)


def intervals(facts: Iterable[Fact]) -> list[Interval]:
    """The lot's custody intervals from its facts (any order: sorted here by eventTime,
    then stored order)."""
    s = _State()
    out: list[Interval] = []
    current: Interval | None = None
    for f in sorted(facts, key=lambda x: (x.event_time, x.seq)):
        _apply(s, f)
        place = s.where(LOT) if s.alive else None
        if current is not None and current.place == place:
            continue
        if current is not None:
            current.end, current.closed_by = f.event_time, f.event_id
            current = None
        if place is not None:
            root = s.root(LOT)
            current = Interval(
                place, f.event_time, f.event_id, container=None if root == LOT else root
            )
            out.append(current)
    # an interval opened and closed by events of the same instant held nothing
    return [i for i in out if i.end is None or i.end > i.start]


def containers_named(facts: Sequence[Fact], known: set[str]) -> set[str]:
    """The containers the lot (or one of ``known``) was aggregated into by ``facts``: the
    parents of aggregations listing them as children. The caller loads those
    containers' events and asks again, until nothing new (at most :data:`MAX_DEPTH`)."""
    found: set[str] = set()
    for f in facts:
        if f.event_type != "AggregationEvent" or f.declared:
            continue
        children = set(f.holders("child", "quantity"))
        if LOT in children or children & known:
            found.update(f.holders("parent"))
    return found - known - {LOT}
