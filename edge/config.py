"""The gateway's YAML configuration: pydantic models and a loader with located errors.

Example (see ``edge/gateway.sample.yaml``)::

    gateway: {id: mangshi-coop-01, county: "533103", site: mangshi-coop-01, state_dir: ./var/edge}
    mqtt: {url: "mqtt://127.0.0.1:1883", username: mangshi-coop-01, password_file: /etc/dehong/pw}
    batch: {interval_s: 60, ack_timeout_s: 30}
    modbus:
      hosts:
        - host: 127.0.0.1
          port: 5020
          devices:
            - id: room-0
              registers:
                - {metric: temperature, address: 0, type: int16, scale: 0.1, decimals: 1}

The password is taken from, in order: the ``DEHONG_GATEWAY_PASSWORD`` environment
variable, ``password_file``, ``password``, the password in ``url``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.drivers.ble_decode import GenericDecoder
from protocol.broker import BrokerUrl
from protocol.codec import field_path
from protocol.ids import GatewayId, OwningCounty, check_device_id, device_id
from protocol.limits import DEFAULT_LIMITS
from protocol.messages import AssetKind, MetricName, SiteId

PASSWORD_ENV = "DEHONG_GATEWAY_PASSWORD"

RegisterFunction = Literal["holding", "input", "coil", "discrete"]
#: Register types and how many 16-bit registers each spans.
REGISTER_WIDTH: dict[str, int] = {
    "bool": 1,
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
}
RegisterType = Literal["bool", "int16", "uint16", "int32", "uint32", "float32"]
BIT_FUNCTIONS = ("coil", "discrete")


class ConfigError(ValueError):
    """A configuration that cannot be used; ``errors`` lists ``location: reason`` lines."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: " + "; ".join(errors))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegisterSpec(_Model):
    """One metric read from one register (or register pair, or bit)."""

    metric: MetricName
    address: Annotated[int, Field(ge=0, le=65535)]
    function: RegisterFunction = "holding"
    #: Defaults to ``bool`` for coils and discrete inputs, ``int16`` for registers.
    type: RegisterType | None = None
    #: Byte order of 32-bit types as the device sends the value's bytes A B C D (A the
    #: most significant): ABCD (big-endian), CDAB (word-swapped), BADC (byte-swapped),
    #: DCBA (little-endian). ``big`` and ``little`` are ABCD and CDAB.
    word_order: Literal["ABCD", "CDAB", "BADC", "DCBA", "big", "little"] = "ABCD"
    scale: float = 1.0
    offset: float = 0.0
    unit: Annotated[str, Field(max_length=16)] | None = None
    #: Round the scaled value to this many decimals (so 43 * 0.1 is 4.3, not 4.300000000000001).
    decimals: Annotated[int, Field(ge=0, le=9)] | None = None

    @model_validator(mode="after")
    def _type_fits_function(self) -> RegisterSpec:
        kind = self.value_type
        if self.function in BIT_FUNCTIONS and kind != "bool":
            raise ValueError(
                f"type: a {self.function} is a single bit, its type is bool, not {kind}"
            )
        if self.function not in BIT_FUNCTIONS and kind == "bool":
            raise ValueError(
                f"type: bool is for coils and discrete inputs; a {self.function} register "
                "is int16, uint16, int32, uint32 or float32"
            )
        if self.address + self.width - 1 > 65535:
            raise ValueError(f"address: {self.type} at {self.address} runs past register 65535")
        return self

    @property
    def value_type(self) -> str:
        if self.type is not None:
            return self.type
        return "bool" if self.function in BIT_FUNCTIONS else "int16"

    @property
    def width(self) -> int:
        return REGISTER_WIDTH[self.value_type]


class DeviceSpec(_Model):
    """One Modbus device (unit) on a host; its wire id is ``{gateway}.{id}``."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,63}$")]
    unit: Annotated[int, Field(ge=0, le=255)] = 1
    kind: AssetKind = AssetKind.COLD_ROOM
    #: Overrides the gateway's site for this device.
    site: SiteId | None = None
    poll_interval_s: Annotated[float, Field(gt=0, le=86_400)] = 1.0
    registers: Annotated[list[RegisterSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_metrics(self) -> DeviceSpec:
        seen: set[str] = set()
        for i, reg in enumerate(self.registers):
            if reg.metric in seen:
                raise ValueError(f"registers[{i}].metric: {reg.metric!r} appears twice")
            seen.add(reg.metric)
        most = DEFAULT_LIMITS.max_metrics_per_series
        if len(seen) > most:
            raise ValueError(
                f"registers: device {self.id!r} has {len(seen)} metrics; a series on the wire "
                f"carries at most {most}: split it into several devices"
            )
        return self


class ModbusHost(_Model):
    """One Modbus link with its own task, connection and schedule: a TCP host
    (``host``, ``port``) or an RTU serial bus (``serial``: the device path)."""

    host: Annotated[str, Field(min_length=1)] | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 502
    serial: Annotated[str, Field(min_length=1)] | None = None
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    #: Per-request timeout, s. A request without an answer in this time marks the
    #: device down; this is all a dead slave may cost its bus per cycle.
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    #: Largest gap (in registers) bridged when merging reads into one request.
    max_gap: Annotated[int, Field(ge=0, le=100)] = 0
    #: A device that stays down is retried after a jittered exponential backoff
    #: from its poll interval up to this, s.
    backoff_max_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    devices: Annotated[list[DeviceSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _one_link(self) -> ModbusHost:
        if (self.host is None) == (self.serial is None):
            raise ValueError(
                "host: give either host (Modbus TCP) or serial (Modbus RTU, e.g. /dev/ttyUSB0)"
            )
        return self

    @property
    def label(self) -> str:
        return f"{self.serial}@{self.baudrate}" if self.serial else f"{self.host}:{self.port}"


class ModbusConfig(_Model):
    hosts: list[ModbusHost] = []


class TlsConfig(_Model):
    enabled: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    #: Skip hostname verification (test brokers only).
    insecure: bool = False


class MqttConfig(_Model):
    """Broker connection: ``url`` (``mqtt://user:pass@host:port``, ``mqtts://`` for TLS)
    and/or separate fields; separate fields win over the URL."""

    url: str | None = None
    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None
    tls: TlsConfig = TlsConfig()
    keepalive_s: Annotated[int, Field(ge=1, le=3600)] = 30
    #: Timeout of one publish (waiting for the PUBACK), s.
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    #: Reconnect backoff: first delay and cap, s (full jitter).
    reconnect_min_s: Annotated[float, Field(gt=0)] = 0.5
    reconnect_max_s: Annotated[float, Field(gt=0)] = 30.0

    @model_validator(mode="after")
    def _where(self) -> MqttConfig:
        if self.url is None and self.host is None:
            raise ValueError("url: give the broker as url (mqtt://host:1883) or host")
        if self.url is not None:
            try:
                BrokerUrl.parse(self.url)
            except ValueError as exc:
                raise ValueError(f"url: {exc}") from None
        return self

    def endpoint(self) -> tuple[str, int, bool]:
        """``(host, port, tls)`` from the URL and the separate fields."""
        host, port, tls = self.host, self.port, self.tls.enabled
        if self.url is not None:
            url = BrokerUrl.parse(self.url)
            tls = tls or url.tls
            host = host or url.host
            port = port or (url.port if url.tls == tls else None)
        return str(host), port or (8883 if tls else 1883), tls

    def credentials(self) -> tuple[str | None, str | None]:
        """``(username, password)``; see the module docstring for where they come from."""
        user, url_password = self.username, None
        if self.url is not None:
            url = BrokerUrl.parse(self.url)
            user = user or url.username
            url_password = url.password
        password = os.environ.get(PASSWORD_ENV)
        if password is None and self.password_file is not None:
            try:
                password = self.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    "mqtt.password_file", [f"cannot read {self.password_file}: {exc.strerror}"]
                ) from None
        if password is None:
            password = self.password if self.password is not None else url_password
        return user, password


class BatchConfig(_Model):
    #: Cut a data batch this often, s.
    interval_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    #: Resend a batch that no write-ack named after this long, s.
    ack_timeout_s: Annotated[float, Field(gt=0, le=86_400)] = 30.0
    #: Unused since the durable buffer (bounded by ``buffer.max_bytes`` and
    #: ``buffer.max_age_s``); accepted so that older configs still load.
    max_pending: Annotated[int, Field(ge=1, le=1_000_000)] = 1000


class BufferConfig(_Model):
    """The durable store-and-forward buffer (SQLite WAL, synchronous=FULL)."""

    #: The SQLite file; default ``{state_dir}/buffer.db``.
    path: Path | None = None
    #: Group commit: readings handed over are fsynced within this long, ms.
    commit_interval_ms: Annotated[int, Field(ge=1, le=250)] = 100
    #: Size bound of the stored telemetry (batch payloads), bytes.
    max_bytes: Annotated[int, Field(ge=64 * 1024)] = 512 * 1024 * 1024
    #: Age bound: telemetry older than this is dropped (counted and reported), s.
    max_age_s: Annotated[float, Field(gt=0, le=90 * 86_400)] = 30 * 86_400
    #: When full, old telemetry is thinned to every Nth instant before any is dropped.
    thin_keep_every: Annotated[int, Field(ge=2, le=100)] = 4
    #: Backlog drain rate (token bucket), readings per second; live data is not limited.
    #: 25,000 drains a 1,000 readings/s gateway's outage at >= 20x real time through a
    #: real broker and ingest (~1.1 Mbit/s at ~5.8 B per reading; docs/benchmarks.md).
    drain_readings_per_s: Annotated[float, Field(gt=0)] = 25_000.0
    #: Token bucket size, readings; default: one second of ``drain_readings_per_s``.
    drain_burst: Annotated[float, Field(gt=0)] | None = None
    #: Most backlog batches sent and not yet acknowledged at once.
    max_inflight: Annotated[int, Field(ge=1, le=1000)] = 8
    #: Alarms are never dropped by ``max_bytes``; past this many bytes of them the
    #: oldest go (counted and reported). Default: a quarter of ``max_bytes``, at most
    #: 16 MiB (about 40,000 alarms); at most half of ``max_bytes``.
    max_alarm_bytes: Annotated[int, Field(ge=4096)] | None = None

    @property
    def alarm_cap(self) -> int:
        """``max_alarm_bytes`` or its default."""
        if self.max_alarm_bytes is not None:
            return self.max_alarm_bytes
        return min(16 * 1024 * 1024, self.max_bytes // 4)

    @model_validator(mode="after")
    def _alarm_share(self) -> BufferConfig:
        if self.max_alarm_bytes is not None and self.max_alarm_bytes > self.max_bytes // 2:
            raise ValueError(
                f"max_alarm_bytes: {self.max_alarm_bytes} is more than half of max_bytes "
                f"({self.max_bytes}); lower it or raise max_bytes"
            )
        return self


class ClockConfig(_Model):
    """When the wall clock is believed (see edge/clock.py)."""

    #: ``synced``: only when the kernel says NTP synchronised it (a Pi without RTC);
    #: ``plausible``: whenever it is not behind the last good time (RTC, containers).
    trusted_when: Literal["synced", "plausible"] = "plausible"
    #: Readings whose wall time cannot be established are held this long, then sent
    #: flagged CLOCK_SUSPECT with the best time known, s.
    hold_s: Annotated[float, Field(gt=0, le=30 * 86_400)] = 3600.0


class BleTag(_Model):
    """Per-tag settings, by MAC (upper case) or iBeacon id ``UUID.major.minor``."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
    site: SiteId | None = None
    #: Reported missing when not heard this long, s (default: ble.missing_timeout_s).
    timeout_s: Annotated[float, Field(gt=0, le=86_400)] | None = None


class BleConfig(_Model):
    """BLE advertisements (bleak's BleakScanner, advertisement mode)."""

    enabled: bool = False
    #: ``bleak``: the radio; ``simulated``: no radio, the runner injects the backend
    #: (``dehong sim gateway`` the simulated air of simulators/ble.py; tests their own).
    backend: Literal["bleak", "simulated"] = "bleak"
    scanning_mode: Literal["active", "passive"] = "passive"
    #: Only these MACs / iBeacon UUIDs are recorded (both empty: every decodable tag).
    allow_macs: list[Annotated[str, Field(pattern=r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$")]] = []
    allow_uuids: list[
        Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$")]
    ] = []
    #: A tag not heard this long is reported missing (device_down), s.
    missing_timeout_s: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    #: Tags without a measurement sequence (iBeacon, Eddystone) are recorded at most this often, s.
    min_interval_s: Annotated[float, Field(ge=0, le=3600)] = 5.0
    tags: list[BleTag] = []
    #: Generic manufacturer-data mappings (see edge/drivers/ble_decode.py).
    decoders: list[GenericDecoder] = []

    @model_validator(mode="after")
    def _fits_a_series(self) -> BleConfig:
        most = DEFAULT_LIMITS.max_metrics_per_series
        for i, dec in enumerate(self.decoders):
            metrics = {f.metric for f in dec.fields} | {"rssi"}  # the driver adds rssi
            if len(metrics) > most:
                raise ValueError(
                    f"decoders[{i}].fields: {len(dec.fields)} fields and rssi make "
                    f"{len(metrics)} metrics; a series on the wire carries at most {most}"
                )
        return self


class CoilTarget(_Model):
    """A Modbus coil a rule switches on while it fires (a horn, a beacon)."""

    device: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,63}$")]
    address: Annotated[int, Field(ge=0, le=65535)]


class RuleConfig(_Model):
    """A local threshold alarm: fires on the gateway itself, online or not.

    It fires when ``metric`` of ``device`` stays above ``above`` (or below
    ``below``) for ``min_duration_s``, and clears only when the value is back past
    ``clear`` (the hysteresis; default: the threshold itself).
    """

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
    device: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,63}$")]
    metric: MetricName
    above: float | None = None
    below: float | None = None
    clear: float | None = None
    min_duration_s: Annotated[float, Field(ge=0, le=86_400)] = 0.0
    severity: Literal["info", "warning", "critical"] = "warning"
    coil: CoilTarget | None = None

    @model_validator(mode="after")
    def _one_threshold(self) -> RuleConfig:
        if (self.above is None) == (self.below is None):
            raise ValueError("above: give exactly one of above or below")
        if self.clear is not None:
            if self.above is not None and self.clear > self.above:
                raise ValueError(f"clear: {self.clear} must be <= above ({self.above})")
            if self.below is not None and self.clear < self.below:
                raise ValueError(f"clear: {self.clear} must be >= below ({self.below})")
        return self


class ProfileRange(_Model):
    """The range a metric of a room must stay within (inclusive)."""

    metric: MetricName
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> ProfileRange:
        if not self.min < self.max:
            raise ValueError(f"min: {self.min} must be below max ({self.max})")
        return self


class ProfileConfig(_Model):
    """A commodity profile assigned to a room: local alarms when the room stays outside
    its temperature (or humidity) range longer than the single-excursion limit.

    The cloud owns this section: assigning a profile to a location in the catalog
    pushes the gateway's whole ``profiles`` list with ``set-config``
    (``args.sections``), so hand-written ``rules`` are never touched. Each entry
    becomes threshold rules (``{id}-temp-high``, ``{id}-temp-low``, ``{id}-rh-high``,
    ``{id}-rh-low``) that fire after ``single_excursion_s`` outside the range and
    clear when the value is back inside. The cumulative limit of a profile is the
    cloud's to judge (per stay of a lot, from the time series), not the gateway's.
    """

    #: The catalog's profile, as ``profile-{id}``; names the rules and their alarms.
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
    #: The profile's name, for people reading the config.
    name: Annotated[str, Field(max_length=100)] = ""
    device: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,63}$")]
    temperature: ProfileRange
    humidity: ProfileRange | None = None
    #: Longest a single excursion may last before the alarm fires, s.
    single_excursion_s: Annotated[float, Field(ge=0, le=30 * 86_400)] = 0.0
    severity: Literal["info", "warning", "critical"] = "critical"

    def rules(self) -> list[RuleConfig]:
        """The threshold rules this profile stands for."""
        out: list[RuleConfig] = []
        for short, band in (("temp", self.temperature), ("rh", self.humidity)):
            if band is None:
                continue
            common = {
                "device": self.device,
                "metric": band.metric,
                "min_duration_s": self.single_excursion_s,
                "severity": self.severity,
            }
            out.append(RuleConfig(name=f"{self.id}-{short}-high", above=band.max, **common))
            out.append(RuleConfig(name=f"{self.id}-{short}-low", below=band.min, **common))
        return out


class McuMetric(_Model):
    """One channel of an MCU node mapped to a metric: ``raw * scale + offset``."""

    channel: Annotated[int, Field(ge=0, le=255)]
    metric: MetricName
    unit: Annotated[str, Field(max_length=16)] | None = None
    scale: float = 1.0
    offset: float = 0.0
    decimals: Annotated[int, Field(ge=0, le=9)] | None = None


class McuNode(_Model):
    """One microcontroller node (firmware_bridge protocol); wire id ``{gateway}.{id}``."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,63}$")]
    #: The node's address on its bus (1..65534; 0 is the gateway, 65535 broadcast).
    node: Annotated[int, Field(ge=1, le=65534)]
    bus: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
    kind: AssetKind = AssetKind.SENSOR_NODE
    site: SiteId | None = None
    #: How often an RS-485 node is polled, s (UDP nodes push on their own schedule).
    poll_interval_s: Annotated[float, Field(gt=0, le=86_400)] = 1.0
    metrics: Annotated[list[McuMetric], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> McuNode:
        channels: dict[int, int] = {}
        names: dict[str, int] = {}
        for i, m in enumerate(self.metrics):
            if m.channel in channels:
                raise ValueError(
                    f"metrics[{i}].channel: node {self.id!r} maps channel {m.channel} "
                    f"already at metrics[{channels[m.channel]}]"
                )
            if m.metric in names:
                raise ValueError(
                    f"metrics[{i}].metric: node {self.id!r} has {m.metric!r} already at "
                    f"metrics[{names[m.metric]}]"
                )
            channels[m.channel] = names[m.metric] = i
        return self


class McuBus(_Model):
    """An RS-485 line (``serial``: the gateway polls, nodes answer) or a UDP port
    (``udp_port``: nodes push signed frames)."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
    serial: Annotated[str, Field(min_length=1)] | None = None
    baudrate: Literal[9600, 19200, 38400, 57600, 115200, 230400, 460800] = 115200
    udp_host: str = "0.0.0.0"
    udp_port: Annotated[int, Field(ge=0, le=65535)] | None = None
    #: How long the gateway waits for a node's answer to a poll, s. A node that does
    #: not answer costs its bus at most this per cycle (the Modbus dead-slave rule).
    timeout_s: Annotated[float, Field(gt=0, le=10)] = 0.1
    #: Re-polls of a node whose answer arrived damaged (bad CRC/COBS), per poll.
    retries: Annotated[int, Field(ge=0, le=5)] = 2
    #: A node that stays silent is retried after a jittered backoff up to this, s.
    backoff_max_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    #: Frames a node may answer one poll with, back to back (POLL.burst).
    burst: Annotated[int, Field(ge=1, le=16)] = 4
    #: At most this many frames are taken from one node per turn (polls while it
    #: says MORE), so a node with a backlog does not starve the others.
    max_frames_per_poll: Annotated[int, Field(ge=1, le=64)] = 8
    #: UDP: a signed frame's time must be within this of the gateway's clock, s.
    window_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    #: UDP: a node not heard from for this long is reported down ("missing"), s.
    missing_timeout_s: Annotated[float, Field(gt=0, le=86_400)] = 300.0

    @model_validator(mode="after")
    def _one_link(self) -> McuBus:
        if (self.serial is None) == (self.udp_port is None):
            raise ValueError(
                f"serial: bus {self.id!r} needs either serial (RS-485, e.g. /dev/ttyUSB1) "
                "or udp_port (nodes on the local network)"
            )
        return self


class McuOta(_Model):
    """Node updates from the cloud (firmware_bridge/ota/agent.py, started by the gateway
    when ``cloud_url`` is set): poll the gateway's assignments, verify each image under
    ``keys`` (the release engineer's public keys), update the node through the driver.
    The gateway calls the cloud as itself: its id and its broker password."""

    #: The cloud API's base URL (``https://cloud.example``); none: no OTA agent.
    cloud_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")] | None = None
    #: A ``*.pub`` file or a directory of them (``dehong fw keygen``); needed with a URL.
    keys: Path | None = None
    #: Poll the assignments this often, s (sooner while a rollout moves on).
    poll_interval_s: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    #: A cloud that does not answer is retried after a jittered backoff up to this, s.
    backoff_max_s: Annotated[float, Field(gt=0, le=86_400)] = 3600.0
    #: One HTTP request's limit, s.
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    #: A CA bundle for the cloud's TLS certificate (default: the system's).
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _keys_with_url(self) -> McuOta:
        if self.cloud_url is not None and self.keys is None:
            raise ValueError(
                "keys: OTA from the cloud needs the release public keys (a *.pub file or a "
                "directory of them): the gateway verifies every image before a node sees it"
            )
        return self


class McuConfig(_Model):
    buses: list[McuBus] = []
    nodes: list[McuNode] = []
    #: Node updates from the cloud (none configured: no OTA agent).
    ota: McuOta = McuOta()
    #: The node keys (encrypted; written by ``dehong fw provision``); default state_dir.
    keystore: Path | None = None
    #: The gateway-local key that decrypts the keystore; default state_dir.
    keystore_key: Path | None = None

    @model_validator(mode="after")
    def _nodes_fit(self) -> McuConfig:
        buses: dict[str, int] = {}
        for b, bus in enumerate(self.buses):
            if bus.id in buses:
                raise ValueError(
                    f"buses[{b}].id: {bus.id!r} is already used at buses[{buses[bus.id]}]"
                )
            buses[bus.id] = b
        addresses: dict[tuple[str, int], str] = {}
        for n, node in enumerate(self.nodes):
            if node.bus not in buses:
                known = ", ".join(buses) or "none"
                raise ValueError(
                    f"nodes[{n}].bus: node {node.id!r} names bus {node.bus!r}, not in mcu.buses "
                    f"(known: {known})"
                )
            key = (node.bus, node.node)
            if key in addresses:
                raise ValueError(
                    f"nodes[{n}].node: node {node.id!r} has address {node.node} on bus "
                    f"{node.bus!r}, already used by {addresses[key]!r}"
                )
            addresses[key] = node.id
        if self.ota.cloud_url is not None and not self.nodes:
            raise ValueError("ota.cloud_url: no MCU nodes to update; configure mcu.nodes first")
        return self


class GatewaySection(_Model):
    id: GatewayId
    county: OwningCounty
    site: SiteId | None = None
    #: Where the gateway keeps its small state file (seq, session counter).
    state_dir: Path = Path("var/edge")


class CameraTrigger(_Model):
    """Inspect when ``metric`` of Modbus device ``device`` goes from off to on (a
    tray-present switch or a conveyor's lot sensor wired to a discrete input)."""

    device: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,63}$")]
    metric: MetricName
    edge: Literal["rising", "falling"] = "rising"


class CameraSpec(_Model):
    """A camera read by the gateway (the driver: edge/drivers/camera.py; the vision
    programs: edge/vision/). It inspects every ``interval_s`` and on its trigger."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,63}$")]
    #: a V4L2 index ("0"), an RTSP URL, or a folder of images
    source: Annotated[str, Field(min_length=1, max_length=500)]
    program: Literal["coffee", "fruit"] = "coffee"
    interval_s: Annotated[float, Field(gt=0, le=86_400)] = 3600.0
    lot: Annotated[str, Field(max_length=64)] | None = None
    originals_dir: Path | None = None
    keep_originals_s: Annotated[float, Field(ge=0)] = 7 * 86_400.0
    trigger: CameraTrigger | None = None


class GatewayConfig(_Model):
    gateway: GatewaySection
    mqtt: MqttConfig
    batch: BatchConfig = BatchConfig()
    buffer: BufferConfig = BufferConfig()
    clock: ClockConfig = ClockConfig()
    modbus: ModbusConfig = ModbusConfig()
    ble: BleConfig = BleConfig()
    #: Microcontroller nodes (edge/drivers/mcu.py, firmware_bridge protocol).
    mcu: McuConfig = McuConfig()
    rules: list[RuleConfig] = []
    #: Commodity profiles of rooms, pushed by the cloud (see :class:`ProfileConfig`).
    profiles: list[ProfileConfig] = []
    cameras: list[CameraSpec] = []
    #: Publish a health message this often, s.
    health_interval_s: Annotated[float, Field(ge=1, le=3600)] = 60.0

    @model_validator(mode="after")
    def _unique_devices(self) -> GatewayConfig:
        seen: dict[str, str] = {}
        metrics: dict[str, list[str]] = {}
        for h, host in enumerate(self.modbus.hosts):
            for d, dev in enumerate(host.devices):
                where = f"modbus.hosts[{h}].devices[{d}].id"
                if dev.id in seen:
                    raise ValueError(f"{where}: {dev.id!r} is already used at {seen[dev.id]}")
                seen[dev.id] = where
                metrics[dev.id] = [r.metric for r in dev.registers]
                try:  # the wire id {gateway}.{id} must be a valid device id
                    check_device_id(device_id(self.gateway.id, dev.id))
                except ValueError as exc:
                    raise ValueError(f"{where}: {exc}") from None
        for n, node in enumerate(self.mcu.nodes):
            where = f"mcu.nodes[{n}].id"
            if node.id in seen:
                raise ValueError(f"{where}: {node.id!r} is already used at {seen[node.id]}")
            seen[node.id] = where
            try:
                check_device_id(device_id(self.gateway.id, node.id))
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        self._birth_fits()
        cameras: dict[str, str] = {}
        for c, cam in enumerate(self.cameras):
            where = f"cameras[{c}].id"
            used = seen.get(cam.id) or cameras.get(cam.id)
            if used:
                raise ValueError(f"{where}: {cam.id!r} is already used at {used}")
            try:  # inspections carry {gateway}.{id} as their device
                check_device_id(device_id(self.gateway.id, cam.id))
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            cameras[cam.id] = where
            if cam.trigger is not None and cam.trigger.device not in seen:
                raise ValueError(
                    f"cameras[{c}].trigger.device: {cam.trigger.device!r} is not a Modbus "
                    "device of this gateway"
                )
        names: set[str] = set()
        for r, rule in enumerate(self.rules):
            if rule.name in names:
                raise ValueError(f"rules[{r}].name: {rule.name!r} appears twice")
            names.add(rule.name)
            for field_name, dev_id in (
                ("device", rule.device),
                ("coil.device", rule.coil and rule.coil.device),
            ):
                if dev_id and dev_id not in seen:
                    raise ValueError(
                        f"rules[{r}].{field_name}: no Modbus device {dev_id!r} in this config"
                    )
        self._profiles_fit(metrics)
        return self

    def _profiles_fit(self, metrics: dict[str, list[str]]) -> None:
        """Each profile names a Modbus device of this config, once, and metrics it has."""
        owner: dict[str, int] = {}
        for p, profile in enumerate(self.profiles):
            if profile.device not in metrics:
                raise ValueError(
                    f"profiles[{p}].device: no Modbus device {profile.device!r} in this config"
                )
            if profile.device in owner:
                raise ValueError(
                    f"profiles[{p}].device: {profile.device!r} already has profiles"
                    f"[{owner[profile.device]}]; a room keeps one commodity profile"
                )
            owner[profile.device] = p
            for part in ("temperature", "humidity"):
                band = getattr(profile, part)
                if band is not None and band.metric not in metrics[profile.device]:
                    raise ValueError(
                        f"profiles[{p}].{part}.metric: {profile.device!r} has no metric "
                        f"{band.metric!r} (it has {', '.join(metrics[profile.device])})"
                    )

    def all_rules(self) -> list[tuple[RuleConfig, str | None]]:
        """Every local rule: the hand-written ones (profile None) and those of the
        profiles, each with its profile's id."""
        out: list[tuple[RuleConfig, str | None]] = [(rule, None) for rule in self.rules]
        for profile in self.profiles:
            out.extend((rule, profile.id) for rule in profile.rules())
        return out

    def _birth_fits(self) -> None:
        """The birth lists every Modbus device with its metrics in one message: it must
        stay well under the wire's payload limit (a quarter is left for the rest)."""
        inventory = [
            {"device": f"{self.gateway.id}.{dev.id}", "kind": dev.kind.value, "driver": "modbus",
             "site": dev.site or self.gateway.site, "metrics": [r.metric for r in dev.registers]}
            for host in self.modbus.hosts
            for dev in host.devices
        ]  # fmt: skip
        size = len(orjson.dumps(inventory))
        most = DEFAULT_LIMITS.max_payload_bytes * 3 // 4
        if size > most:
            raise ValueError(
                f"modbus.hosts: the birth message would list {len(inventory)} devices in "
                f"{size} bytes, over {most} (3/4 of the {DEFAULT_LIMITS.max_payload_bytes}-byte "
                "message limit); spread the devices over more gateways"
            )

    def mcu_keystore_paths(self) -> tuple[Path, Path]:
        """The encrypted node key store and the gateway-local key that opens it."""
        d = self.gateway.state_dir
        return (
            self.mcu.keystore or d / "mcu-keys.bin",
            self.mcu.keystore_key or d / "mcu-gateway.key",
        )

    def buffer_path(self) -> Path:
        """The buffer's SQLite file."""
        return self.buffer.path or self.gateway.state_dir / "buffer.db"

    def device_id(self, local: str) -> str:
        """The wire id of a local device: ``{gateway}.{local}``."""
        return device_id(self.gateway.id, local)

    def canonical_hash(self) -> str:
        """sha256 of the canonical config (sorted keys, no secrets)."""
        data = self.model_dump(mode="json")
        data["mqtt"].pop("password", None)
        return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def format_errors(exc: ValidationError) -> list[str]:
    """``location: reason`` for every validation error, locations in YAML terms."""
    lines = []
    for err in exc.errors(include_url=False):
        path = field_path(tuple(p for p in err["loc"] if not str(p).startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        head, sep, rest = msg.partition(": ")
        if sep and " " not in head and ("." in head or "[" in head or head.isidentifier()):
            path = f"{path}.{head}" if path and not head.startswith("[") else path + head
            msg = rest
        lines.append(f"{path}: {msg}" if path else msg)
    return lines


def parse_config(data: Any, source: str = "<config>") -> GatewayConfig:
    """Validate an already-parsed mapping; raise :class:`ConfigError` with located reasons."""
    if not isinstance(data, dict):
        raise ConfigError(source, [f"the top level must be a mapping, got {type(data).__name__}"])
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _name_mcu_nodes(format_errors(exc), data)) from None


def _name_mcu_nodes(lines: list[str], data: dict[str, Any]) -> list[str]:
    """``mcu.nodes[3].metrics[0].scale: ...`` -> ``... (node 'scale-1')``: a technician
    finds a node by its id, not by its position in the list."""
    import re

    nodes = (data.get("mcu") or {}).get("nodes") if isinstance(data.get("mcu"), dict) else None
    if not isinstance(nodes, list):
        return lines
    out = []
    for line in lines:
        m = re.match(r"mcu\.nodes\[(\d+)\]", line)
        if m and int(m.group(1)) < len(nodes) and isinstance(nodes[int(m.group(1))], dict):
            node_id = nodes[int(m.group(1))].get("id")
            if node_id is not None and repr(str(node_id)) not in line:
                line = f"{line} (node {str(node_id)!r})"
        out.append(line)
    return out


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate a gateway YAML file; raise :class:`ConfigError` on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [f"{where}invalid YAML: {problem}"]) from None
    return parse_config(data, str(path))
