"""The bodies of our own trace operations (``POST /api/v1/trace/ops/{step}``, ``dehong
trace op STEP``): one pydantic model per step, ``extra="forbid"``; the common fields
(``event_id``, ``time``, ``location_id``, ``note``) in :class:`OpBase`. Shapes agreed in
/work/wt/OPS.md."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cloud.catalog.gs1 import check_sscc
from cloud.trace.epcis.identifiers import EpcError, dl_uri, parse_epc
from cloud.trace.lots.schemas import Gtin, LotNumber, LotOut, LotRef, Unit
from cloud.trace.results.schemas import ResultIn

STEPS = ("harvest", "process", "pack", "test", "store", "load", "receive", "sell")
Step = Literal["harvest", "process", "pack", "test", "store", "load", "receive", "sell"]
PROCESSES = (
    "pulping", "fermenting", "washing", "drying", "hulling", "grading", "roasting", "sorting",
    "other",
)  # fmt: skip

#: RFC 3986 scheme, then anything but whitespace
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
_SSCC = re.compile(r"^\d{18}$")


def check_event_id(value: str) -> str:
    """An eventID is an absolute URI (EPCIS 2.0 §7.4.1): ``urn:uuid:<uuid>`` as the phone
    makes it, or any other scheme (``ni:///sha-256;...``)."""
    if len(value) > 500:
        raise ValueError("an eventID has at most 500 characters")
    if not _ABSOLUTE_URI.match(value):
        raise ValueError(
            f"{value[:80]!r} is not an absolute URI; EPCIS requires one as eventID: "
            "use urn:uuid:<a UUID> (e.g. urn:uuid:1b4e28ba-2fa1-41d2-883f-0016d3cca427)"
        )
    return value


def container_uri(value: str) -> str:
    """A case or pallet: an SSCC (18 digits, check digit verified) as its Digital Link
    ``https://id.gs1.org/00/{sscc}``, or a GS1 Digital Link / EPC URN of one object (an
    SSCC, a serialised GTIN, a GRAI, a GIAI, ...), kept as written."""
    text = value.strip()
    if _SSCC.match(text):
        return dl_uri(sscc=check_sscc(text))
    if text.isdigit():
        raise ValueError(f"{text!r}: an SSCC has 18 digits (with its check digit), not {len(text)}")
    try:
        epc = parse_epc(text)
    except EpcError as exc:
        raise ValueError(f"{text[:80]!r} is not a container's identifier: {exc}") from None
    if epc.is_class:
        raise ValueError(
            f"{text[:80]!r} names a class (a lot or a product), not one case or pallet: give "
            "its SSCC or a Digital Link of one object"
        )
    return text


def body_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "lots", 0, "lot")`` as ``body.lots[0].lot``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


EventId = Annotated[str, AfterValidator(check_event_id)]
Container = Annotated[str, AfterValidator(container_uri)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=6)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
Note = Annotated[str, Field(max_length=2000)]


class OpBase(BaseModel):
    """The fields every operation takes."""

    model_config = ConfigDict(extra="forbid")

    event_id: EventId | None = Field(
        default=None,
        description="The event's id, made by the client (urn:uuid:<uuid4>) so that a retry "
        "is idempotent; absent: the CBV 2.0 event hash",
    )
    time: AwareDatetime | None = Field(
        default=None,
        description="When it happened, with its offset (2026-11-20T08:05:00+08:00); absent: "
        "now. A retry must send the same time",
    )
    location_id: Id | None = Field(
        default=None,
        description="Catalog location (room, warehouse, vehicle compartment, station, customer "
        "site): readPoint and bizLocation",
    )
    note: Note | None = Field(default=None, description="Free text, kept as dh:note")


class LotItem(LotRef):
    """A lot and, optionally, how much of it."""

    quantity: Quantity | None = None
    unit: Unit | None = Field(default=None, description="UN/ECE Rec. 20 code, e.g. KGM")

    @model_validator(mode="after")
    def _unit_needs_quantity(self) -> LotItem:
        if self.unit is not None and self.quantity is None:
            raise ValueError("unit: a unit goes with a quantity")
        return self


class ItemsOp(OpBase):
    """Lots and/or containers (at least one)."""

    lots: list[LotItem] = Field(default_factory=list, max_length=500)
    containers: list[Container] = Field(
        default_factory=list,
        max_length=500,
        description="Cases or pallets: an SSCC (18 digits) or a Digital Link URI",
    )

    @model_validator(mode="after")
    def _some_items(self) -> ItemsOp:
        if not self.lots and not self.containers:
            raise ValueError("lots: give at least one lot or container")
        return self


class HarvestOp(OpBase):
    gtin: Gtin
    lot: LotNumber
    org_id: Id = Field(description="The producing organisation; the lot is of its county")
    quantity: Quantity
    unit: Unit
    origin_base_id: Id | None = None
    produced_on: date | None = Field(default=None, description="Harvest date; default: the "
                                     "Beijing date of time")  # fmt: skip


class ProcessOutput(LotRef):
    quantity: Quantity
    unit: Unit
    org_id: Id | None = Field(default=None, description="Default: the first input's organisation")


class ProcessOp(OpBase):
    inputs: list[LotItem] = Field(min_length=1, max_length=500)
    output: ProcessOutput
    process: Literal[
        "pulping", "fermenting", "washing", "drying", "hulling", "grading", "roasting",
        "sorting", "other",
    ]  # fmt: skip


class PackOp(ItemsOp):
    parent: Container = Field(description="The case or pallet: an SSCC or a Digital Link URI")


class TestOp(OpBase):
    lot: LotRef
    biz_step: Literal["inspecting", "sampling"] = "inspecting"
    results: list[ResultIn] = Field(min_length=1, max_length=200)


class StoreOp(ItemsOp):
    location_id: Id = Field(description="The room or warehouse")  # type: ignore[assignment]


class LoadOp(ItemsOp):
    location_id: Id = Field(description="The vehicle compartment")  # type: ignore[assignment]
    destination_id: Id | None = Field(default=None, description="Where it goes (location)")


class ReceiveOp(ItemsOp):
    location_id: Id = Field(description="Where it is received")  # type: ignore[assignment]
    source_id: Id | None = Field(default=None, description="Where it came from (location)")


class SellOp(ItemsOp):
    buyer: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    order: Annotated[str, Field(min_length=1, max_length=200)] | None = None


BODIES: dict[str, type[OpBase]] = {
    "harvest": HarvestOp,
    "process": ProcessOp,
    "pack": PackOp,
    "test": TestOp,
    "store": StoreOp,
    "load": LoadOp,
    "receive": ReceiveOp,
    "sell": SellOp,
}


class OpOut(BaseModel):
    event_id: str
    outcome: Literal["stored", "unchanged"]
    event: dict[str, Any]
    lot: LotOut | None = None
