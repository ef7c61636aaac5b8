"""Versioned payload schemas of the wire contract, version 1.

Every payload is a JSON object whose ``v`` is the schema version. Numbers that
are measurements are always floats: a field never changes type in InfluxDB.

A *reading* is one value of one metric of one device at one instant. A data
message is a batch of readings grouped by device ("series"), columnar: one
timestamp run per series and one value array per metric, so that a 60 s batch of
a cold room at 1 Hz (240 readings) is a few hundred bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocol.ids import DeviceId, GatewayId, MetricName
from protocol.limits import DEFAULT_LIMITS
from protocol.quality import ALL_FLAGS

SCHEMA_VERSION = 1

Float = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Millis = Annotated[int, Field(strict=True, ge=0, lt=10**14)]  # UTC epoch milliseconds
BatchId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
MessageId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
SiteId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
ShortText = Annotated[str, Field(max_length=500)]
AttrValue = float | int | str | bool | None


class AssetKind(StrEnum):
    """What a series measures; one InfluxDB measurement per kind."""

    COLD_ROOM = "cold_room"
    BLE_TAG = "ble_tag"
    VEHICLE = "vehicle"
    INSPECTION = "inspection"
    GATEWAY_HEALTH = "gateway_health"
    SENSOR_NODE = "sensor_node"


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)

    v: Literal[1] = SCHEMA_VERSION


# ---------------------------------------------------------------------------- data


class Series(BaseModel):
    """The readings of one device in one batch, columnar.

    Timestamps are ``t0`` plus either a uniform step ``dt`` (an int, ms) or a list
    of ``n - 1`` gaps (ms, each >= 1) from the previous reading. Each entry of
    ``values`` holds ``n`` floats; ``null`` means that metric has no reading at
    that instant. ``quality`` is sparse: ``{metric or "*": [[index, flags], ...]}``
    where ``"*"`` applies to every metric at that index.
    """

    model_config = ConfigDict(extra="forbid")

    device: DeviceId
    kind: AssetKind = AssetKind.COLD_ROOM
    site: SiteId | None = None
    t0: Millis
    n: Annotated[int, Field(strict=True, ge=1, le=DEFAULT_LIMITS.max_readings_per_batch)]
    dt: (
        Annotated[int, Field(strict=True, ge=1)] | list[Annotated[int, Field(strict=True, ge=1)]]
    ) = 1000
    values: dict[MetricName, list[Float | None]]
    quality: dict[str, list[tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=1)]]]] = {}

    @model_validator(mode="after")
    def _shape(self) -> Series:
        if not self.values:
            raise ValueError("values: a series needs at least one metric")
        if len(self.values) > DEFAULT_LIMITS.max_metrics_per_series:
            raise ValueError(
                f"values: {len(self.values)} metrics, at most "
                f"{DEFAULT_LIMITS.max_metrics_per_series} per series"
            )
        if isinstance(self.dt, list) and len(self.dt) != self.n - 1:
            raise ValueError(f"dt: {len(self.dt)} gaps given, n={self.n} needs {self.n - 1}")
        for metric, column in self.values.items():
            if len(column) != self.n:
                raise ValueError(f"values.{metric}: {len(column)} values, n={self.n}")
        for key, entries in self.quality.items():
            if key != "*" and key not in self.values:
                raise ValueError(f"quality.{key}: no such metric in values")
            for index, flags in entries:
                if index >= self.n:
                    raise ValueError(f"quality.{key}: index {index} out of range 0..{self.n - 1}")
                if flags & ~ALL_FLAGS:
                    raise ValueError(f"quality.{key}: unknown flag bits {flags & ~ALL_FLAGS:#x}")
        return self

    def timestamps(self) -> list[int]:
        if isinstance(self.dt, int):
            return [self.t0 + i * self.dt for i in range(self.n)]
        out = [self.t0]
        t = self.t0
        for gap in self.dt:
            t += gap
            out.append(t)
        return out

    def last_ts(self) -> int:
        if isinstance(self.dt, int):
            return self.t0 + (self.n - 1) * self.dt
        return self.t0 + sum(self.dt)

    def reading_count(self) -> int:
        return sum(len(column) - column.count(None) for column in self.values.values())

    def flags_at(self) -> dict[str, dict[int, int]]:
        """Quality flags by metric and index, with ``"*"`` folded into each metric."""
        if not self.quality:
            return {}
        common = dict(self.quality.get("*", ()))
        out: dict[str, dict[int, int]] = {}
        for metric in self.values:
            own = dict(self.quality.get(metric, ()))
            for index, flags in common.items():
                own[index] = own.get(index, 0) | flags
            if own:
                out[metric] = own
        return out

    def readings(self) -> Iterator[tuple[int, str, float, int]]:
        """Every reading as ``(ts_ms, metric, value, flags)``."""
        ts = self.timestamps()
        flags = self.flags_at()
        for metric, column in self.values.items():
            mflags = flags.get(metric, {})
            for i, value in enumerate(column):
                if value is not None:
                    yield ts[i], metric, value, mflags.get(i, 0)


class DataBatch(_Msg):
    """``data``: a batch of readings. At-least-once: ``id`` makes resends idempotent."""

    gw: GatewayId
    seq: Annotated[int, Field(strict=True, ge=0)]
    id: BatchId
    sent: Millis | None = None
    series: Annotated[list[Series], Field(min_length=1)]

    @model_validator(mode="after")
    def _totals(self) -> DataBatch:
        limits = DEFAULT_LIMITS
        if len(self.series) > limits.max_series_per_batch:
            raise ValueError(
                f"series: {len(self.series)} series, at most {limits.max_series_per_batch}"
            )
        total = sum(s.n * len(s.values) for s in self.series)
        if total > limits.max_readings_per_batch:
            raise ValueError(
                f"series: {total} readings, at most {limits.max_readings_per_batch} per batch; "
                "send smaller batches"
            )
        return self

    def reading_count(self) -> int:
        return sum(s.reading_count() for s in self.series)


# ------------------------------------------------------------------ session state


class InventoryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device: DeviceId
    kind: AssetKind
    driver: Annotated[str, Field(max_length=64)]
    site: SiteId | None = None
    metrics: list[MetricName] = []


class Birth(_Msg):
    """``birth`` (retained): published on every connect.

    ``session`` increments on every connect and is persisted by the gateway; a
    death whose session is lower than the newest birth's is stale and ignored.
    """

    gw: GatewayId
    session: Annotated[int, Field(strict=True, ge=0)]
    ts: Millis
    boot: Annotated[str, Field(max_length=64)] | None = None
    versions: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=64)]] = {}
    config_hash: Annotated[str, Field(max_length=128)] | None = None
    inventory: list[InventoryItem] = []


class Death(_Msg):
    """``death`` (retained): the MQTT last will, or sent on a clean shutdown."""

    gw: GatewayId
    session: Annotated[int, Field(strict=True, ge=0)]
    ts: Millis | None = None
    reason: Literal["will", "shutdown"] = "will"


# ---------------------------------------------------------------------- events


class EventType(StrEnum):
    ALARM = "alarm"
    ALARM_CLEAR = "alarm_clear"
    DEVICE_UP = "device_up"
    DEVICE_DOWN = "device_down"
    INSPECTION = "inspection"
    BUFFER = "buffer"  # thinning or drops in the gateway's buffer
    DRIVER = "driver"  # a driver started, failed, restarted


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Inspection(BaseModel):
    """The result of one camera inspection (coffee tray, fruit conveyor)."""

    model_config = ConfigDict(extra="forbid")

    program: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    lot: Annotated[str, Field(max_length=64)] | None = None
    usable: bool = True
    unusable_reason: ShortText | None = None
    grade: Annotated[str, Field(max_length=64)] | None = None
    counts: dict[Annotated[str, Field(max_length=64)], Annotated[int, Field(ge=0)]] = {}
    measurements: dict[Annotated[str, Field(max_length=64)], Float] = {}
    image_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    #: base64 of an annotated JPEG thumbnail
    thumbnail_jpeg: Annotated[str, Field(max_length=200_000)] | None = None


class EventMessage(_Msg):
    """``event``: alarms, device up/down, inspections, buffer and driver notices."""

    gw: GatewayId
    id: MessageId
    ts: Millis
    type: EventType
    device: DeviceId | None = None
    severity: Severity = Severity.INFO
    message: ShortText | None = None
    attrs: dict[Annotated[str, Field(max_length=64)], AttrValue] = {}
    inspection: Inspection | None = None

    @model_validator(mode="after")
    def _inspection(self) -> EventMessage:
        if (self.type is EventType.INSPECTION) != (self.inspection is not None):
            raise ValueError("inspection: required exactly when type is 'inspection'")
        return self


Count = Annotated[int, Field(strict=True, ge=0, lt=2**63)]


class Health(_Msg):
    """``health``: published every ``health_interval_s`` (60 s) by a gateway.

    Every count of readings is in **readings**: one value of one metric of one device
    at one instant (a device-instant with three metrics read is three readings).
    ``taken``, ``sent``, ``acked``, ``thinned`` and ``dropped`` count since the
    gateway's buffer file was created (they survive restarts); ``pending_readings``
    and ``buffer_depth`` are what the buffer holds now. The four ``*_readings``
    fields are optional: a gateway older than them sends none (null, not zero).
    Payloads refuse unknown fields, so a cloud older than them dead-letters a
    health that carries them: upgrade the cloud before the gateways.
    """

    gw: GatewayId
    ts: Millis
    uptime_s: Float | None = None
    #: Readings in batches waiting for their write-ack (not counting unbatched ones).
    buffer_depth: Annotated[int, Field(ge=0)] = 0
    buffer_oldest_ms: Millis | None = None
    pending_batches: Annotated[int, Field(ge=0)] = 0
    #: Readings removed by thinning / dropped by the buffer's bounds.
    thinned: Annotated[int, Field(ge=0)] = 0
    dropped: Annotated[int, Field(ge=0)] = 0
    #: Readings committed (fsynced) to the gateway's buffer.
    taken_readings: Count | None = None
    #: Readings in batches published to the broker (a batch counts once per gateway run).
    sent_readings: Count | None = None
    #: Readings in batches a write-ack named.
    acked_readings: Count | None = None
    #: Readings in the buffer not yet acknowledged: unbatched, held for the clock, batched.
    pending_readings: Count | None = None
    rss_bytes: Annotated[int, Field(ge=0)] | None = None
    cpu_percent: Float | None = None
    disk_free_bytes: Annotated[int, Field(ge=0)] | None = None
    sd_write_bytes: Annotated[int, Field(ge=0)] | None = None
    clock: Literal["trusted", "suspect", "unknown"] = "unknown"
    drivers: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=64)]] = {}


# -------------------------------------------------------------------- commands


class CommandMessage(_Msg):
    """``cmd``: cloud -> gateway. A gateway refuses a command past ``expires``."""

    id: MessageId
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
    args: dict[str, Any] = {}
    issued: Millis
    expires: Millis

    @model_validator(mode="after")
    def _expiry(self) -> CommandMessage:
        if self.expires <= self.issued:
            raise ValueError("expires: must be after issued")
        return self


class CommandAck(_Msg):
    """``cmd/ack``: gateway -> cloud."""

    gw: GatewayId
    id: MessageId
    ts: Millis
    status: Literal["accepted", "done", "failed", "rejected", "expired"]
    detail: ShortText | None = None
    result: dict[str, Any] | None = None


# ------------------------------------------------------------------ write-acks


class AckEntry(BaseModel):
    """One acknowledged message: a data batch (by batch id and seq) or an event (by id)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["data", "event"] = "data"
    id: MessageId
    seq: Annotated[int, Field(ge=0)] = 0
    #: stored: every reading is in the time-series store. partial: the rest went to
    #: the dead-letter store with its reason. rejected: all of it did.
    status: Literal["stored", "partial", "rejected"]
    stored: Annotated[int, Field(ge=0)] = 0
    rejected: Annotated[int, Field(ge=0)] = 0


class WriteAck(_Msg):
    """``ack``: cloud -> gateway. The gateway deletes a batch only after this."""

    gw: GatewayId
    ts: Millis
    acks: Annotated[list[AckEntry], Field(min_length=1)]
