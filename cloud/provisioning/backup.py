"""``dehong backup`` and ``dehong restore``: the whole state of a stack in one folder.

A backup holds, each taken with the tool that keeps it consistent:

- ``postgres.dump``: ``pg_dump --format=custom`` (one snapshot), or ``relational.sqlite``
  (SQLite's online backup) for the embedded relational store;
- ``influxdb/``: ``influxd backup -portable`` of the time-series database over the RPC
  port (``DEHONG_INFLUX_RPC``), or ``timeseries.sqlite`` for the embedded store;
- ``broker/``: the generated Mosquitto ``passwd`` and ``acl``;
- ``keys/``: the signing keys: the JWT secret, and every file of ``DEHONG_KEYS_DIR``;
- ``manifest.json``: format, times, versions, and size and SHA-256 of every file.

Restore checks every file against the manifest before it changes anything, and
refuses a corrupted or incomplete backup naming the file. It then loads the
relational dump, restores the time-series database, puts the broker files and keys
back, and marks every hour the backup spanned for roll-up recomputation (the roll-ups
are derived from the raw points, so they come back exact).

A backup contains secrets (password hashes, keys): keep the folder or bucket private.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from cloud.fsutil import write_atomic
from cloud.provisioning.backup_targets import MANIFEST, BackupError, Target
from cloud.settings import DEMO_JWT_SECRET, Settings

FORMAT = 1
PG_DUMP = "postgres.dump"
REL_SQLITE = "relational.sqlite"
INFLUX_DIR = "influxdb"
TS_SQLITE = "timeseries.sqlite"
BROKER_DIR = "broker"
KEYS_DIR = "keys"
JWT_SECRET_FILE = "jwt_secret"
BEIJING = timedelta(hours=8)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _run(args: Sequence[str], what: str, env: dict[str, str] | None = None) -> str:
    binary = shutil.which(args[0])
    if binary is None:
        raise BackupError(f"{what}: {args[0]} not found on PATH; install it on this host")
    proc = subprocess.run(
        [binary, *args[1:]],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if proc.returncode != 0:
        raise BackupError(f"{what} failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}")
    return proc.stdout


def _libpq_url(url: str) -> str:
    """``postgresql+psycopg://...`` -> ``postgresql://...`` for pg_dump / pg_restore."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _is_postgres(url: str) -> bool:
    return make_url(url).drivername.startswith("postgres")


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def _sqlite_copy(src: Path, dest: Path) -> None:
    """SQLite's online backup: a consistent copy while writers go on."""
    with sqlite3.connect(src) as s, sqlite3.connect(dest) as d:
        s.backup(d)
    with dest.open("rb") as f:
        os.fsync(f.fileno())


# --------------------------------------------------------------------- backup


@dataclass(frozen=True)
class BackupResult:
    name: str
    where: str
    files: int
    bytes: int
    pruned: list[str]


def _versions(settings: Settings) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        dehong = version("dehong")
    except PackageNotFoundError:
        dehong = "unknown"
    out = {"dehong": dehong, "python": platform.python_version(), "format": str(FORMAT)}
    if _is_postgres(settings.database_url):
        out["pg_dump"] = _run(["pg_dump", "--version"], "pg_dump --version").strip()
    if settings.influx_url:
        out["influxd"] = _run(["influxd", "version"], "influxd version").strip()
    return out


def _copy_dir(src: Path, dest: Path) -> None:
    if not src.is_dir():
        return
    for path in sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith(".")):
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def collect(settings: Settings, folder: Path) -> dict[str, Any]:
    """Write the backup files into ``folder`` (empty) and its manifest last."""
    started = datetime.now(UTC)
    sources: dict[str, str] = {}
    if _is_postgres(settings.database_url):
        _run(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                f"--file={folder / PG_DUMP}",
                _libpq_url(settings.database_url),
            ],
            "pg_dump",
        )
        sources["relational"] = "postgresql"
    else:
        _sqlite_copy(_sqlite_path(settings.database_url), folder / REL_SQLITE)
        sources["relational"] = "sqlite"
    if settings.influx_url:
        _run(
            [
                "influxd",
                "backup",
                "-portable",
                "-database",
                settings.influx_db,
                "-host",
                settings.influx_rpc,
                str(folder / INFLUX_DIR),
            ],
            f"influxd backup (RPC {settings.influx_rpc}, DEHONG_INFLUX_RPC)",
        )
        sources["timeseries"] = "influxdb"
    elif settings.tsdb_path.exists():
        _sqlite_copy(settings.tsdb_path, folder / TS_SQLITE)
        sources["timeseries"] = "sqlite"
    _copy_dir(settings.mosquitto_dir, folder / BROKER_DIR)
    _copy_dir(settings.keys_dir, folder / KEYS_DIR)
    secret = settings.jwt_secret.get_secret_value()
    if secret != DEMO_JWT_SECRET:
        (folder / KEYS_DIR).mkdir(exist_ok=True, mode=0o700)
        write_atomic(folder / KEYS_DIR / JWT_SECRET_FILE, (secret + "\n").encode(), 0o600)
    files = [
        {
            "path": p.relative_to(folder).as_posix(),
            "size": p.stat().st_size,
            "sha256": sha256_file(p),
        }
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]
    manifest = {
        "format": FORMAT,
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "influx_db": settings.influx_db,
        "sources": sources,
        "versions": _versions(settings),
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def backup(settings: Settings, target: Target, *, now: datetime | None = None) -> BackupResult:
    """Take a backup into ``target``; returns its name."""
    when = now or datetime.now(UTC)
    name = f"dehong-{when.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    with tempfile.TemporaryDirectory(prefix="dehong-backup-") as tmp:
        folder = Path(tmp) / name
        folder.mkdir(mode=0o700)
        manifest = collect(settings, folder)
        target.put(name, folder)
    size = sum(f["size"] for f in manifest["files"])
    return BackupResult(name, target.describe(), len(manifest["files"]) + 1, size, [])


def to_keep(
    names: Sequence[str], *, daily: int = 7, weekly: int = 4, monthly: int = 12
) -> set[str]:
    """Grandfather-father-son: the newest backup of each of the last ``daily`` days,
    ``weekly`` ISO weeks and ``monthly`` months that have one (Beijing time)."""
    keep: set[str] = set()
    newest_first = sorted(names, reverse=True)
    for count, period in (
        (daily, lambda d: d.date()),
        (weekly, lambda d: d.isocalendar()[:2]),
        (monthly, lambda d: (d.year, d.month)),
    ):
        seen: list[object] = []
        for name in newest_first:
            when = datetime.strptime(name, "dehong-%Y%m%dT%H%M%SZ") + BEIJING
            key = period(when)
            if key in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(key)
            keep.add(name)
    return keep


def prune(target: Target, *, daily: int = 7, weekly: int = 4, monthly: int = 12) -> list[str]:
    """Delete the backups the retention does not keep; returns their names."""
    names = target.names()
    keep = to_keep(names, daily=daily, weekly=weekly, monthly=monthly)
    gone = [n for n in names if n not in keep]
    for name in gone:
        target.delete(name)
    return gone


# -------------------------------------------------------------------- restore


def verify(folder: Path) -> dict[str, Any]:
    """The manifest, after checking every file it lists (size and SHA-256) and that no
    file is missing; BackupError names the first file that does not match."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{MANIFEST}: unreadable ({exc}); not a complete backup") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{MANIFEST}: format {manifest.get('format')!r}, expected {FORMAT}")
    for entry in manifest["files"]:
        p = folder / entry["path"]
        if not p.is_file():
            raise BackupError(f"{entry['path']}: missing from the backup; refusing to restore")
        if p.stat().st_size != entry["size"] or sha256_file(p) != entry["sha256"]:
            raise BackupError(
                f"{entry['path']}: checksum mismatch (corrupted backup); refusing to restore"
            )
    return manifest


def _influx_restore(settings: Settings, folder: Path, manifest: dict[str, Any]) -> None:
    _run(
        [
            "influxd",
            "restore",
            "-portable",
            "-host",
            settings.influx_rpc,
            "-db",
            manifest["influx_db"],
            "-newdb",
            settings.influx_db,
            str(folder / INFLUX_DIR),
        ],
        f"influxd restore (RPC {settings.influx_rpc}; the database {settings.influx_db!r} "
        "must not exist yet: restore into a fresh InfluxDB)",
    )


def _put_files(src: Path, dest: Path, mode: int) -> int:
    if not src.is_dir():
        return 0
    n = 0
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, path.read_bytes(), mode)
        n += 1
    return n


def restore_files(settings: Settings, folder: Path) -> dict[str, Any]:
    """Restore a verified backup folder into the stack ``settings`` names."""
    manifest = verify(folder)
    sources = manifest["sources"]
    if sources.get("relational") == "postgresql":
        if not _is_postgres(settings.database_url):
            raise BackupError("the backup holds PostgreSQL; set DEHONG_DATABASE_URL to one")
        _run(
            [
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={_libpq_url(settings.database_url)}",
                str(folder / PG_DUMP),
            ],
            "pg_restore (into an empty database: create it fresh first)",
        )
    else:
        dest = _sqlite_path(settings.database_url)
        if dest.exists():
            raise BackupError(f"{dest} exists; restore into a fresh stack (move it away first)")
        dest.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(folder / REL_SQLITE, dest)
    if sources.get("timeseries") == "influxdb":
        if not settings.influx_url:
            raise BackupError("the backup holds InfluxDB; set DEHONG_INFLUX_URL and _RPC")
        _influx_restore(settings, folder, manifest)
    elif sources.get("timeseries") == "sqlite":
        if settings.tsdb_path.exists():
            raise BackupError(f"{settings.tsdb_path} exists; restore into a fresh stack")
        settings.tsdb_path.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(folder / TS_SQLITE, settings.tsdb_path)
    settings.mosquitto_dir.mkdir(parents=True, exist_ok=True)
    broker = folder / BROKER_DIR
    for path in sorted(broker.rglob("*")) if broker.is_dir() else []:
        if path.is_file():
            mode = 0o640 if path.name == "acl" else 0o600
            target = settings.mosquitto_dir / path.relative_to(broker)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, path.read_bytes(), mode)
    keys = folder / KEYS_DIR
    settings.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _put_files(keys, settings.keys_dir, 0o600)
    return manifest


async def remark_rollups(settings: Settings, manifest: dict[str, Any]) -> int:
    """Mark every hour the backup spanned (from an hour before it started) for roll-up
    recomputation: marks and roll-ups were taken at slightly different instants.

    Roll-ups are per (device, county): a tag heard by gateways of two counties has a
    series under each, whatever county the device row names now. So every device's
    hours are marked under every county (an hour of a county with no readings of the
    device is recomputed to nothing)."""
    from sqlalchemy import select

    from cloud.db import Database
    from cloud.devices.storage import Device
    from cloud.timeseries.rollup import mark_hours
    from cloud.timeseries.windows import HOUR_MS
    from protocol.ids import COUNTY_CODES

    start = datetime.fromisoformat(manifest["started"]) - timedelta(hours=1)
    end = datetime.fromisoformat(manifest["finished"])
    first = int(start.timestamp() * 1000) // HOUR_MS * HOUR_MS
    last = int(end.timestamp() * 1000)
    db = Database(settings.database_url)
    try:
        async with db.session() as s:
            devices = list((await s.execute(select(Device))).scalars())
        return await mark_hours(
            db,
            {
                (d.kind, d.id, county, h): d.site
                for d in devices
                for county in COUNTY_CODES
                for h in range(first, last, HOUR_MS)
            },
        )
    finally:
        await db.dispose()


async def restore(settings: Settings, target: Target, name: str | None = None) -> dict[str, Any]:
    """Restore backup ``name`` (default: the newest) from ``target`` into a fresh stack."""
    names = target.names()
    if not names:
        raise BackupError(f"no complete backup in {target.describe()}")
    chosen = name or names[-1]
    if chosen not in names:
        raise BackupError(f"no complete backup {chosen!r} in {target.describe()}")
    with tempfile.TemporaryDirectory(prefix="dehong-restore-") as tmp:
        folder = Path(tmp) / chosen
        folder.mkdir()
        target.get(chosen, folder)
        manifest = restore_files(settings, folder)
    manifest["name"] = chosen
    manifest["hours_marked"] = await remark_rollups(settings, manifest)
    return manifest
