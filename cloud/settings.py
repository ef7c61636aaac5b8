"""Cloud settings from the environment (prefix ``DEHONG_``) or a ``.env`` file."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from protocol.broker import BrokerUrl

#: Clearly marked demo default. Production sets DEHONG_JWT_SECRET; `dehong cloud serve`
#: refuses to start with this value unless DEHONG_DEMO=1.
DEMO_JWT_SECRET = "demo-only-secret-change-me-0123456789abcdef"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEHONG_", env_file=".env", extra="ignore")

    #: Relational store. SQLite by default; ``postgresql://user@host/db`` in production.
    database_url: str = "sqlite:///var/dehong.db"
    #: InfluxDB v1 HTTP API, e.g. ``http://127.0.0.1:8086``. Empty: the embedded SQLite store.
    influx_url: str = ""
    influx_db: str = "dehong"
    influx_username: str = ""
    influx_password: SecretStr = SecretStr("")
    #: Embedded time-series store, used when ``influx_url`` is empty.
    tsdb_path: Path = Path("var/timeseries.db")
    #: InfluxDB's RPC address (its ``bind-address``), for ``dehong backup`` / ``restore``.
    influx_rpc: str = "127.0.0.1:8088"
    #: Signing keys kept in files (backed up with the JWT secret by ``dehong backup``).
    keys_dir: Path = Path("var/keys")
    #: Where ``dehong backup`` writes and ``dehong restore`` reads: a directory or
    #: ``s3://bucket/prefix`` (then ``backup_s3_endpoint`` for a non-AWS service).
    backup_to: str = "var/backups"
    backup_s3_endpoint: str = ""
    #: Broker the cloud services connect to, e.g. ``mqtt://ingest:secret@127.0.0.1:1883``;
    #: ``mqtts://ingest:secret@broker:8883`` for TLS (anything but loopback).
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    #: TLS (mqtts://): the CA that signed the broker's certificate (empty: the system's
    #: CAs), and an optional client certificate and key.
    mqtt_ca_file: Path | None = None
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None
    #: Use MQTT shared subscriptions for the ingest workers (Mosquitto 2, EMQX).
    mqtt_shared: bool = False
    #: Where generated Mosquitto passwd/acl files are written by provisioning.
    mosquitto_dir: Path = Path("var/mosquitto")
    #: PID file of the Mosquitto to signal (SIGHUP) after regenerating its files.
    mosquitto_pid_file: Path | None = None
    #: How the broker learns of regenerated files: ``agent`` (deploy/mosquitto/run.sh,
    #: through ``mosquitto_dir/reload.fifo``; docker-compose), ``signal`` (SIGHUP via
    #: the pid file), ``watch`` (the broker rereads changed files: the demo's), or
    #: ``auto`` (agent if its FIFO exists, else signal if a pid file is set).
    mosquitto_reload: Literal["auto", "agent", "signal", "watch"] = "auto"
    #: How long to wait for the reload agent's confirmation, s.
    mosquitto_reload_timeout_s: float = Field(default=5.0, gt=0, le=60)
    #: The group Mosquitto runs as (name or gid): passwd and acl are made 0640 in it.
    #: ``auto``: the group ``mosquitto`` if it exists; empty: owner-only files (0600).
    mosquitto_group: str = "auto"

    #: The trace log's name: the origin line of its checkpoints and the name of its
    #: signing key (C2SP tlog-checkpoint, signed-note). A schema-less URL that need not
    #: be reachable; fixed for the life of the log (the key file carries it).
    trace_log_origin: str = Field(default="dehong.local/trace-log", min_length=1, max_length=200)
    #: The trace log's Ed25519 signing key, made by ``dehong cloud init-db`` (mode
    #: 0600, never in the repository). Default: ``keys_dir/trace-log.key``.
    trace_log_key_file: Path | None = None

    #: Trusted public keys of firmware releases (issue 16): a file or a directory of
    #: ``*.pub`` files (``dehong fw keygen`` writes them). An uploaded image whose
    #: manifest no key verifies is refused. Default: ``keys_dir/firmware``.
    firmware_keys: Path | None = None
    #: A rollout's failure threshold when the request gives none (failed / released).
    firmware_failure_threshold: float = Field(default=0.2, ge=0, le=1)
    #: The largest firmware image the API stores, in bytes.
    firmware_max_bytes: int = Field(default=8 * 1024 * 1024, gt=0)

    #: The key of the serials' authentication codes ``c`` (HMAC-SHA256), made by
    #: ``dehong cloud init-db`` (mode 0600, never in the repository; without it the
    #: printed codes can be forged). Default: ``keys_dir/serials.key``.
    serials_key_file: Path | None = None
    #: Scan anomalies (cloud/resolver/scans): two shared places of one serial that
    #: need a faster trip than this are flagged; so is a serial scanned more often
    #: than ``scan_max_per_serial`` times. A place may be added to a scan within
    #: ``scan_place_window_s`` of it.
    scan_max_speed_kmh: float = Field(default=120.0, gt=0, le=2000)
    scan_max_per_serial: int = Field(default=10, ge=1)
    scan_place_window_s: float = Field(default=600.0, gt=0, le=86400)
    #: The public site's operator and its ICP 备案 number (MIIT filing), shown in the
    #: footer of every public page (cloud/web), as a website in China must.
    site_operator: str = Field(default="德宏州农村电商公共服务平台（演示）", max_length=200)
    site_icp: str = Field(default="滇ICP备00000000号（演示）", max_length=100)

    #: Content-addressed file store (inspection thumbnails), keyed by SHA-256.
    filestore_dir: Path = Path("var/files")

    #: Master keys of personal data (cloud/pii): ``kid:base64key[,...]``, the first active;
    #: or ``pii_key_file`` holding the same. Neither: only the demo has a (marked) default.
    pii_keys: SecretStr = SecretStr("")
    pii_key_file: Path | None = None

    jwt_secret: SecretStr = SecretStr(DEMO_JWT_SECRET)
    jwt_ttl_s: int = 3600
    demo: bool = False

    #: Login throttling: failed logins per username and per client address within
    #: ``login_window_s``; reaching the limit locks that username (or address) for
    #: ``login_lockout_s`` (429 with Retry-After).
    login_max_failures_user: int = Field(default=5, ge=1)
    login_max_failures_ip: int = Field(default=30, ge=1)
    login_window_s: float = Field(default=900.0, gt=0)
    login_lockout_s: float = Field(default=900.0, gt=0)

    #: Bearer token Prometheus sends to ``/metrics`` (the API and every ingest worker).
    #: Empty: the API refuses scrapes (except with DEHONG_DEMO=1) and ingest workers
    #: serve ``/metrics`` on loopback only.
    metrics_token: SecretStr = SecretStr("")
    #: The API's ``/metrics`` reads the database (dead letters, gateways, roll-ups) at
    #: most this often; scrapes in between are answered from the cached values.
    metrics_cache_s: float = Field(default=15.0, ge=0)

    #: The public host of the GS1 Digital Link resolver and the consumer trace page, as
    #: printed in QR codes (``dehong trace dl make``, labels): scheme and host, no path.
    public_base_url: str = Field(default="https://trace.dehong.example", min_length=8)
    #: The resolver's name in ``/.well-known/gs1resolver``.
    resolver_name: str = "德宏农产品追溯 Dehong traceability resolver"
    #: Per client address, the resolver's (and the scan endpoint's) token bucket: a
    #: burst of ``resolver_rate_burst`` requests, refilled at ``resolver_rate_per_s``;
    #: past it, 429 with Retry-After. 0 requests per second: no limit.
    resolver_rate_per_s: float = Field(default=5.0, ge=0)
    resolver_rate_burst: int = Field(default=60, ge=1)
    #: Addresses (or CIDR networks) of reverse proxies whose X-Forwarded-For is believed;
    #: comma-separated, e.g. ``127.0.0.1,10.0.0.0/8``. Empty: the peer address is the client.
    trusted_proxies: str = ""
    #: The trace page's cache (cloud/resolver/page/cache.py): lots kept per API process
    #: (0: no cache, every view built from the database).
    trace_page_cache_lots: int = Field(default=512, ge=0)
    #: Load shedding: trace page views built at once per API process; past it, up to
    #: ``trace_page_queue`` wait at most ``trace_page_wait_s``; others get 503 with
    #: Retry-After at once (cached views pass without waiting).
    trace_page_concurrency: int = Field(default=4, ge=1)
    trace_page_queue: int = Field(default=32, ge=0)
    trace_page_wait_s: float = Field(default=2.0, gt=0)

    #: The MOFCOM push (cloud/services/mofcom): the HTTPS endpoint the monthly export is
    #: POSTed to (empty: no push; plain http only to a loopback address, for tests), a
    #: bearer token, a CA file for a private CA (empty: the system's), the Beijing day
    #: of the month on which the previous month is pushed, the attempts per push and the
    #: backoff between them (doubling from ``_backoff_s`` to ``_backoff_max_s``), the
    #: request timeout, and how often the scheduler looks whether a push is due.
    mofcom_push_url: str = Field(default="", max_length=500)
    mofcom_push_token: SecretStr = SecretStr("")
    mofcom_push_ca_file: Path | None = None
    mofcom_push_day: int = Field(default=5, ge=1, le=28)
    mofcom_push_attempts: int = Field(default=6, ge=1, le=50)
    mofcom_push_backoff_s: float = Field(default=30.0, gt=0)
    mofcom_push_backoff_max_s: float = Field(default=1800.0, gt=0)
    mofcom_push_timeout_s: float = Field(default=60.0, gt=0, le=600)
    mofcom_push_check_s: float = Field(default=3600.0, gt=0)
    #: ``dehong cloud jobs`` (cloud/jobs.py): how often the daily jobs (supervision
    #: reminders, the households' retention sweep) run (they are idempotent), and the
    #: status file it replaces after every round (its health check reads it).
    jobs_every_s: float = Field(default=3600.0, gt=0)
    jobs_status_file: Path | None = None

    api_host: str = "127.0.0.1"
    api_port: int = 8080
    #: Each ingest worker serves Prometheus ``/metrics`` here (its own port; the API
    #: serves its own ``/metrics``). -1: off; 0: any free port (logged).
    ingest_metrics_host: str = "127.0.0.1"
    ingest_metrics_port: int = Field(default=9108, ge=-1, le=65535)
    #: Concurrent time-series write requests per worker.
    ingest_write_concurrency: int = Field(default=2, ge=1, le=64)
    #: Points per time-series write request (coalesced from many batches).
    ingest_write_points: int = Field(default=5000, ge=1, le=100_000)
    #: Points a worker holds while the time-series store is slow or down; beyond it,
    #: batches are not taken (not acknowledged: the gateways keep and resend them).
    ingest_max_queued_points: int = Field(default=500_000, ge=1000)
    #: This worker's MQTT client id; its broker session (shared subscriptions) is resumed
    #: after a restart under the same id. Empty: ``ingest-{host}-{metrics port}``.
    ingest_client_id: str = Field(default="", max_length=128)
    #: How long the broker keeps a worker's session (and queues its share of messages)
    #: while it is away; 0: a clean session on every connect.
    ingest_session_expiry_s: int = Field(default=120, ge=0, le=86_400)
    #: Distinct devices one gateway may report (the cardinality guard).
    ingest_max_devices_per_gateway: int = Field(default=2000, ge=1)
    #: Each ingest worker runs the roll-up job this often (seconds); 0: not in ingest
    #: (run ``dehong cloud rollup`` instead).
    rollup_interval_s: float = Field(default=30.0, ge=0)
    #: An hour is rolled up once no write has touched it for this long (seconds); a
    #: minute of it (1-min roll-up, the hour still marked) after 20 s, at most this.
    rollup_settle_s: float = Field(default=60.0, ge=0)
    #: EPCIS capture: the largest document (bytes) and the most events per document it
    #: takes (GS1-EPCIS-Capture-File-Size-Limit, GS1-EPCIS-Capture-Limit); more is 413.
    epcis_capture_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    epcis_capture_max_events: int = Field(default=10_000, ge=1)
    #: The largest scan of a 三品一标 certificate (PDF, JPEG or PNG) taken, bytes; more
    #: is 413.
    certificate_scan_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    #: The dispatcher console (cloud/logistics/console/README.md). Map tiles: a preset
    #: (``stub``: this server's generated tiles, ``osm``, ``tianditu``, ``amap``) or a URL
    #: template with {z}/{x}/{y}; the key of 天地图/高德 (a browser key, sent to the page);
    #: whether the tiles are drawn in GCJ-02 (None: the preset's; a template: False).
    console_tiles: str = Field(default="stub", min_length=3, max_length=500)
    console_tiles_key: str = Field(default="", max_length=200)
    console_tiles_gcj02: bool | None = None
    console_tiles_attribution: str = Field(default="", max_length=200)
    #: How often the console's poller reads the vehicles' latest fixes (and the alarms
    #: provider) from the time series, s; a fix older than ``console_offline_after_s``
    #: is offline, one slower than ``console_moving_kmh`` stopped.
    console_poll_s: float = Field(default=2.0, gt=0, le=300)
    console_offline_after_s: float = Field(default=300.0, gt=0)
    console_moving_kmh: float = Field(default=3.0, ge=0)
    #: The live stream: events queued per client before it is dropped as too slow, and
    #: the heartbeat comment's interval, s.
    console_stream_queue: int = Field(default=1000, ge=10, le=100_000)
    console_heartbeat_s: float = Field(default=15.0, gt=0, le=300)
    # No ``ack_linger_ms``: write-acks are already batched, one publish per gateway per
    # write group, and a group lingers 50 ms for more batches before it is written. A
    # second linger after the write would only delay acks (and the gateways' resend
    # timers) without saving a publish. A stale DEHONG_ACK_LINGER_MS is ignored.

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or "?" in value or "#" in value:
            raise ValueError(
                f"public_base_url: {value!r} is not a base URL; use https://host (no query)"
            )
        return value.rstrip("/")

    @field_validator("mofcom_push_url")
    @classmethod
    def _mofcom_push_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        if not value:
            return value
        u = urlsplit(value)
        loopback = u.hostname in ("127.0.0.1", "::1", "localhost")
        if (
            not u.hostname
            or u.scheme not in ("https", "http")
            or (u.scheme == "http" and not loopback)
        ):
            raise ValueError(
                f"mofcom_push_url: {value!r} is not an https:// URL "
                "(plain http only to a loopback address)"
            )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        for item in filter(None, (x.strip() for x in value.split(","))):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {item!r} is not an IP address or CIDR network"
                ) from None
        return value

    def mqtt_broker(self) -> BrokerUrl:
        """``mqtt_url`` with the TLS files; a CA or certificate with a plain URL is refused."""
        url = BrokerUrl.parse(self.mqtt_url)
        files = (self.mqtt_ca_file, self.mqtt_cert_file, self.mqtt_key_file)
        if not url.tls and any(f is not None for f in files):
            raise ValueError(
                "DEHONG_MQTT_CA_FILE/_CERT_FILE/_KEY_FILE are set but DEHONG_MQTT_URL is "
                f"{url.redacted()}: use mqtts://host:8883 (plain MQTT is for loopback only)"
            )
        return BrokerUrl(url.host, url.port, url.username, url.password, url.tls, *files)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
