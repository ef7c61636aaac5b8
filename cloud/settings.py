"""Cloud settings from the environment (prefix ``DEHONG_``) or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    #: Broker the cloud services connect to, e.g. ``mqtt://ingest:secret@127.0.0.1:1883``.
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    #: Use MQTT shared subscriptions for the ingest workers (Mosquitto 2, EMQX).
    mqtt_shared: bool = False
    #: Where generated Mosquitto passwd/acl files are written by provisioning.
    mosquitto_dir: Path = Path("var/mosquitto")
    #: PID file of the Mosquitto to signal (SIGHUP) after regenerating its files.
    mosquitto_pid_file: Path | None = None

    #: Content-addressed file store (inspection thumbnails), keyed by SHA-256.
    filestore_dir: Path = Path("var/files")

    jwt_secret: SecretStr = SecretStr(DEMO_JWT_SECRET)
    jwt_ttl_s: int = 3600
    demo: bool = False

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
    #: An hour is rolled up once no write has touched it for this long (seconds).
    rollup_settle_s: float = Field(default=60.0, ge=0)
    # No ``ack_linger_ms``: write-acks are already batched, one publish per gateway per
    # write group, and a group lingers 50 ms for more batches before it is written. A
    # second linger after the write would only delay acks (and the gateways' resend
    # timers) without saving a publish. A stale DEHONG_ACK_LINGER_MS is ignored.


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
