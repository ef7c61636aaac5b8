from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

GatewayStatus = Literal["online", "offline", "never_seen", "revoked"]


class GatewayOut(BaseModel):
    id: str
    county: str
    name: str
    site: str
    online: bool = Field(description="birth_session > death_session and not revoked")
    status: GatewayStatus
    created_at: datetime
    revoked_at: datetime | None
    last_seen_at: datetime | None
    last_birth_at: datetime | None
    last_death_at: datetime | None
    birth_session: int
    death_session: int
    versions: dict[str, Any]
    config_hash: str | None


class GatewayCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    county: str = Field(description="GB/T 2260 code of the county that owns the gateway")
    name: str = Field(min_length=1, max_length=200)
    site: str | None = Field(
        default=None, description="Site id (A-Z a-z 0-9 _ -); defaults to the gateway id"
    )
    id: str | None = Field(
        default=None, description="Gateway id (a-z 0-9 -, 2-48); defaults to a slug of name"
    )


class MqttCredentials(BaseModel):
    username: str
    password: str = Field(description="Shown once; only its Mosquitto hash is stored.")
    topic_prefix: str = Field(description="The gateway publishes under this prefix only.")


class GatewayProvisioned(BaseModel):
    gateway: GatewayOut
    mqtt: MqttCredentials


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    county: str
    kind: str
    site: str
    gateway_id: str
    metrics: list[str]
    first_seen_at: datetime
    last_seen_at: datetime
    last_reading_ms: int
    last_reading_at: datetime | None
    readings: int


class MetricValue(BaseModel):
    metric: str
    ts: datetime = Field(description="Reading time, ISO-8601 UTC")
    ts_ms: int = Field(description="Reading time, epoch milliseconds UTC")
    value: float
    quality: int = Field(description="protocol.quality.Quality flags; 0 is good")


class LatestValues(BaseModel):
    device: str
    kind: str
    values: list[MetricValue]


Resolution = Literal["raw", "1m", "1h"]


class SeriesBucket(BaseModel):
    ts: datetime = Field(description="Window start, ISO-8601 UTC")
    ts_ms: int
    mean: float | None
    min: float | None
    max: float | None
    count: int
    mkt: float | None = Field(
        default=None,
        description="Mean kinetic temperature (°C, ΔH/R 10 000 K) of a temperature metric; "
        "from roll-ups (resolution 1m or 1h), else null",
    )


class SeriesOut(BaseModel):
    device: str
    metric: str
    start: datetime
    end: datetime
    every: str
    every_ms: int
    resolution: Resolution = Field(
        description="What answered: raw points or the 1-min / 1-h roll-ups (hours not "
        "rolled up yet are read raw into the same windows). Windows of "
        "a day or longer start at Beijing midnight (UTC+8)."
    )
    buckets: list[SeriesBucket]


class DeviceSeries(BaseModel):
    device: str
    kind: str
    buckets: list[SeriesBucket]


class MultiSeriesOut(BaseModel):
    metric: str
    start: datetime
    end: datetime
    every: str
    every_ms: int
    resolution: Resolution
    series: list[DeviceSeries]


class GapRange(BaseModel):
    first: int
    last: int


class CompletenessOut(BaseModel):
    gateway: str
    complete_up_to: int | None = Field(
        description="Every batch up to this sequence number is written (null: none yet)"
    )
    max_seq: int | None = Field(description="The highest sequence number written")
    missing: int = Field(description="Sequence numbers between the two not written (yet)")
    missing_ranges: list[GapRange] = Field(description="The first 100 gaps")
    pending_batches: int | None = Field(
        description="Batches the gateway has sent and holds until acknowledged (its health)"
    )
    buffer_depth: int | None = Field(description="Readings buffered on the gateway (its health)")
    buffer_oldest: datetime | None = Field(description="Oldest buffered reading (its health)")
    health_at: datetime | None = Field(description="Time of the newest health report")


class GatewayHealthOut(BaseModel):
    """The gateway's newest ``health`` message (protocol.messages.Health)."""

    gateway: str
    at: datetime | None = Field(description="Time of the newest health report (null: none yet)")
    unit: Literal["readings"] = Field(
        default="readings",
        description="Unit of every *_readings count: one value of one metric of one device at "
        "one instant (a device-instant with three metrics read is three readings)",
    )
    taken_readings: int | None = Field(
        description="Committed (fsynced) to the gateway's buffer, since its buffer file was "
        "created; null if the gateway does not report it"
    )
    sent_readings: int | None = Field(
        description="In batches published to the broker (a batch counts once per gateway run)"
    )
    acked_readings: int | None = Field(description="In batches a cloud write-ack named")
    pending_readings: int | None = Field(
        description="In the gateway's buffer and not acknowledged (batched or not), now"
    )
    pending_batches: int | None = Field(description="Batches waiting for their write-ack")
    buffer_depth: int | None = Field(description="Readings in those batches")
    buffer_oldest: datetime | None = Field(description="Oldest reading not yet acknowledged")
    clock: str | None = Field(description="trusted, suspect or unknown")


class CommandCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$", description="e.g. ping, reload-config")
    args: dict[str, Any] = Field(default_factory=dict)
    ttl_s: int = Field(default=300, ge=1, le=86_400, description="Expires after this many seconds")


class CommandOut(BaseModel):
    id: str
    gateway: str
    name: str
    args: dict[str, Any]
    issued: datetime
    expires: datetime
    state: Literal["pending", "expired", "done", "failed", "rejected"]
    status: str = Field(description="sent, or the gateway's last cmd/ack status")
    ack_at: datetime | None
    detail: str | None
    result: dict[str, Any] | None
    created_by: str
