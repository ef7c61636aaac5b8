"""Custody rules (cloud/trace/custody/rules.py): one test per row of the README's table
of bizStep -> effect, on facts built here (pure, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud.trace.custody.rules import LOT, Fact, containers_named, intervals

T0 = datetime(2026, 11, 20, tzinfo=UTC)
A, B, C, TRUCK = "place:A", "place:B", "place:C", "place:truck"
PALLET, CASE = "sscc:pallet", "sscc:case"


def fact(
    n: int,
    *,
    step: str | None = "storing",
    loc: str | None = None,
    kind: str = "ObjectEvent",
    action: str | None = "OBSERVE",
    objects: tuple[tuple[str, str], ...] = (("quantity", LOT),),
    declared: bool = False,
    minute: int | None = None,
) -> Fact:
    return Fact(
        seq=n,
        event_id=f"e{n}",
        event_type=kind,
        event_time=T0 + timedelta(minutes=n if minute is None else minute),
        action=action,
        biz_step=step,
        biz_location=loc,
        objects=objects,
        declared=declared,
    )


def spans(facts: list[Fact]) -> list[tuple[str, int, int | None]]:
    """(place, start minute, end minute or None) of each interval."""
    return [
        (
            i.place,
            int((i.start - T0).total_seconds() // 60),
            None if i.end is None else int((i.end - T0).total_seconds() // 60),
        )
        for i in intervals(facts)
    ]


def test_storing_opens_and_an_event_elsewhere_closes() -> None:
    facts = [
        fact(1, step="commissioning", action="ADD", loc=A),
        fact(5, step="receiving", loc=B),
        fact(9, step="storing", loc=C),
    ]
    assert spans(facts) == [(A, 1, 5), (B, 5, 9), (C, 9, None)]
    first = intervals(facts)[0]
    assert (first.opened_by, first.closed_by) == ("e1", "e5")


def test_an_event_at_the_same_place_changes_nothing() -> None:
    facts = [fact(1, loc=A), fact(3, step="inspecting", loc=A), fact(4, step="storing", loc=A)]
    assert spans(facts) == [(A, 1, None)]


def test_an_event_without_a_place_changes_nothing() -> None:
    facts = [fact(1, loc=A), fact(3, step="inspecting", loc=None), fact(4, step="sampling")]
    assert spans(facts) == [(A, 1, None)]


def test_shipping_without_a_place_is_in_transit_until_received() -> None:
    for step in ("shipping", "departing", "transporting"):
        facts = [fact(1, loc=A), fact(3, step=step), fact(8, step="receiving", loc=B)]
        assert spans(facts) == [(A, 1, 3), (B, 8, None)], step


def test_shipping_or_loading_with_a_place_moves_there() -> None:
    facts = [fact(1, loc=A), fact(3, step="loading", loc=TRUCK), fact(7, step="arriving", loc=B)]
    assert spans(facts) == [(A, 1, 3), (TRUCK, 3, 7), (B, 7, None)]
    facts = [fact(1, loc=A), fact(3, step="shipping", loc=TRUCK)]
    assert spans(facts) == [(A, 1, 3), (TRUCK, 3, None)]


def test_delete_and_destroying_end_custody() -> None:
    for kw in ({"action": "DELETE", "step": "decommissioning"}, {"step": "destroying"}):
        facts = [fact(1, loc=A), fact(4, **kw), fact(6, step="inspecting")]  # type: ignore[arg-type]
        assert spans(facts) == [(A, 1, 4)], kw


def test_retail_selling_leaves_the_rest_of_the_lot_where_it_is() -> None:
    facts = [fact(1, loc=A), fact(4, step="retail_selling", loc=A)]
    assert spans(facts) == [(A, 1, None)]


def test_sensor_reporting_and_declared_events_move_nothing() -> None:
    facts = [
        fact(1, loc=A),
        fact(2, step="sensor_reporting", loc=B),  # evidence, even of another place
        fact(3, step="receiving", loc=C, declared=True),  # declared erroneous
    ]
    assert spans(facts) == [(A, 1, None)]


def test_events_are_taken_in_event_time_order() -> None:
    late_captured = fact(9, step="receiving", loc=B, minute=5)
    assert spans([late_captured, fact(1, loc=A)]) == [(A, 1, 5), (B, 5, None)]


def test_packing_carries_the_lot_with_its_container() -> None:
    pack = (("parent", PALLET), ("quantity", LOT))
    facts = [
        fact(1, loc=A),
        fact(2, kind="AggregationEvent", action="ADD", step="packing", objects=pack),  # in place
        fact(4, step="shipping", objects=(("epc", PALLET),)),  # the pallet leaves
        fact(6, step="receiving", loc=B, objects=(("epc", PALLET),)),
        fact(7, kind="AggregationEvent", action="DELETE", step="unpacking", objects=pack),
        fact(9, step="shipping", loc=TRUCK, objects=(("epc", PALLET),)),  # empty pallet
    ]
    assert spans(facts) == [(A, 1, 4), (B, 6, None)]
    assert intervals(facts)[1].container == PALLET


def test_packing_at_a_place_puts_the_container_there() -> None:
    pack = (("parent", PALLET), ("child", LOT))
    facts = [
        fact(1, loc=A),
        fact(2, kind="AggregationEvent", action="ADD", step="packing", loc=B, objects=pack),
    ]
    assert spans(facts) == [(A, 1, 2), (B, 2, None)]


def test_nested_containers_carry_the_lot() -> None:
    facts = [
        fact(1, loc=A),
        fact(2, kind="AggregationEvent", action="ADD", objects=(("parent", CASE), ("quantity", LOT))),
        fact(3, kind="AggregationEvent", action="ADD", objects=(("parent", PALLET), ("child", CASE))),
        fact(5, step="loading", loc=TRUCK, objects=(("epc", PALLET),)),
        fact(8, step="receiving", loc=B, objects=(("epc", PALLET),)),
    ]  # fmt: skip
    assert spans(facts) == [(A, 1, 5), (TRUCK, 5, 8), (B, 8, None)]
    assert intervals(facts)[1].container == PALLET


def test_naming_the_lot_moves_its_container_too() -> None:
    facts = [
        fact(1, loc=A),
        fact(2, kind="AggregationEvent", action="ADD", objects=(("parent", PALLET), ("quantity", LOT))),
        fact(4, step="receiving", loc=B),  # the lot is seen at B: so is its pallet
        fact(6, step="storing", loc=C, objects=(("epc", PALLET),)),
    ]  # fmt: skip
    assert spans(facts) == [(A, 1, 4), (B, 4, 6), (C, 6, None)]


def test_unpacking_with_no_children_listed_empties_the_container() -> None:
    facts = [
        fact(1, loc=A),
        fact(2, kind="AggregationEvent", action="ADD", objects=(("parent", PALLET), ("quantity", LOT))),
        fact(3, kind="AggregationEvent", action="DELETE", objects=(("parent", PALLET),)),
        fact(5, step="shipping", loc=TRUCK, objects=(("epc", PALLET),)),
    ]  # fmt: skip
    assert spans(facts) == [(A, 1, None)]


def test_a_container_that_ends_leaves_its_contents_in_place() -> None:
    facts = [
        fact(1, loc=A),
        fact(2, kind="AggregationEvent", action="ADD", objects=(("parent", PALLET), ("quantity", LOT))),
        fact(3, step="decommissioning", action="DELETE", objects=(("epc", PALLET),)),
        fact(5, step="shipping", loc=TRUCK, objects=(("epc", PALLET),)),
    ]  # fmt: skip
    assert spans(facts) == [(A, 1, None)]


def test_transformation_ends_inputs_and_begins_outputs() -> None:
    other = "lot:other"
    as_input = (("input_quantity", LOT), ("output_quantity", other))
    facts = [fact(1, loc=A), fact(4, kind="TransformationEvent", loc=B, objects=as_input)]
    assert spans(facts) == [(A, 1, 4)]
    as_output = (("input_quantity", other), ("output_quantity", LOT))
    facts = [fact(4, kind="TransformationEvent", loc=B, objects=as_output), fact(7, loc=C)]
    assert spans(facts) == [(B, 4, 7), (C, 7, None)]
    # without a bizLocation the output has no place until an event gives one
    facts = [fact(4, kind="TransformationEvent", objects=as_output), fact(7, loc=C)]
    assert spans(facts) == [(C, 7, None)]
    # input and output (dried in place): custody continues
    both = (("input_quantity", LOT), ("output_quantity", LOT))
    facts = [fact(1, loc=A), fact(4, kind="TransformationEvent", objects=both)]
    assert spans(facts) == [(A, 1, None)]


def test_transactions_with_a_place_move_and_associations_do_not() -> None:
    facts = [
        fact(1, loc=A),
        fact(3, kind="TransactionEvent", action="ADD", step="shipping", loc=B),
        fact(5, kind="AssociationEvent", action="ADD", loc=C, objects=(("parent", "giai:x"), ("child", LOT))),
    ]  # fmt: skip
    assert spans(facts) == [(A, 1, 3), (B, 3, None)]


def test_moves_within_one_instant_leave_no_empty_interval() -> None:
    facts = [fact(1, loc=A), fact(3, loc=B, minute=5), fact(4, loc=C, minute=5)]
    assert spans(facts) == [(A, 1, 5), (C, 5, None)]


def test_containers_named_follows_aggregations_of_the_lot_and_its_containers() -> None:
    facts = [
        fact(1, kind="AggregationEvent", action="ADD", objects=(("parent", CASE), ("quantity", LOT))),
        fact(2, kind="AggregationEvent", action="ADD", objects=(("parent", PALLET), ("child", CASE))),
        fact(3, kind="AggregationEvent", action="ADD", declared=True,
             objects=(("parent", "sscc:wrong"), ("quantity", LOT))),
    ]  # fmt: skip
    assert containers_named(facts, set()) == {CASE}
    assert containers_named(facts, {CASE}) == {PALLET}
    assert containers_named(facts, {CASE, PALLET}) == set()
