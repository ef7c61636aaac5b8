"""Where backups are kept: a directory, or an S3-compatible bucket (AWS S3, MinIO,
Ceph, Aliyun OSS / Tencent COS in S3 mode).

A backup is a folder ``dehong-YYYYMMDDTHHMMSSZ`` of files with ``manifest.json``
among them. A backup is complete when its manifest is there: a directory backup is
written under a temporary name and renamed; in a bucket the manifest is uploaded
last. Listing ignores anything without a manifest.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

MANIFEST = "manifest.json"
NAME_RE = re.compile(r"^dehong-\d{8}T\d{6}Z$")


class BackupError(RuntimeError):
    """A backup or restore could not be made; the message says what to do."""


class Target(Protocol):
    def put(self, name: str, folder: Path) -> None:
        """Store every file under ``folder`` as backup ``name`` (manifest last)."""

    def get(self, name: str, into: Path) -> None:
        """Fetch backup ``name`` into the empty folder ``into``."""

    def names(self) -> list[str]:
        """Complete backups, oldest first."""

    def delete(self, name: str) -> None: ...

    def describe(self) -> str: ...


def _files(folder: Path) -> list[Path]:
    """Every file under ``folder``, the manifest last."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = folder / MANIFEST
    return [*files, manifest] if manifest.exists() else files


def _fsync_tree(folder: Path) -> None:
    for p in [*_files(folder), *sorted(d for d in folder.rglob("*") if d.is_dir()), folder]:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass
class DirectoryTarget:
    root: Path

    def describe(self) -> str:
        return str(self.root)

    def put(self, name: str, folder: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = self.root / name
        if final.exists():
            raise BackupError(f"backup {final} already exists")
        partial = self.root / f".partial-{name}"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(folder, partial)
        _fsync_tree(partial)
        os.rename(partial, final)
        _fsync_dir(self.root)

    def get(self, name: str, into: Path) -> None:
        src = self.root / name
        if not (src / MANIFEST).is_file():
            raise BackupError(f"no complete backup {name!r} in {self.root} (no {MANIFEST})")
        shutil.copytree(src, into, dirs_exist_ok=True)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if NAME_RE.match(p.name) and (p / MANIFEST).is_file()
        )

    def delete(self, name: str) -> None:
        shutil.rmtree(self.root / name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class S3Target:
    """``s3://bucket/prefix``; credentials from the usual AWS variables or files
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``), ``endpoint_url`` for a
    non-AWS service (``DEHONG_BACKUP_S3_ENDPOINT``)."""

    bucket: str
    prefix: str
    endpoint_url: str | None = None
    region: str | None = None

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def _client(self) -> Any:
        try:
            import boto3
        except ModuleNotFoundError:
            raise BackupError(
                "an S3 target needs boto3: pip install 'dehong[s3]' (or back up to a directory)"
            ) from None
        return boto3.client(
            "s3", endpoint_url=self.endpoint_url or None, region_name=self.region or None
        )

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix.strip("/"), *parts) if p)

    def put(self, name: str, folder: Path) -> None:
        s3 = self._client()
        for path in _files(folder):
            rel = path.relative_to(folder).as_posix()
            s3.upload_file(str(path), self.bucket, self._key(name, rel))

    def get(self, name: str, into: Path) -> None:
        s3 = self._client()
        keys = self._list(s3, self._key(name) + "/")
        if self._key(name, MANIFEST) not in keys:
            raise BackupError(f"no complete backup {name!r} in {self.describe()} (no {MANIFEST})")
        base = self._key(name) + "/"
        for key in keys:
            dest = into / key[len(base) :]
            dest.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(self.bucket, key, str(dest))

    def names(self) -> list[str]:
        s3 = self._client()
        base = self._key() + "/" if self.prefix.strip("/") else ""
        found = set()
        for key in self._list(s3, base):
            parts = key[len(base) :].split("/")
            if len(parts) == 2 and parts[1] == MANIFEST and NAME_RE.match(parts[0]):
                found.add(parts[0])
        return sorted(found)

    def delete(self, name: str) -> None:
        s3 = self._client()
        keys = sorted(self._list(s3, self._key(name) + "/"))
        # the manifest first: a half-deleted backup is never taken for a complete one
        keys.sort(key=lambda k: not k.endswith("/" + MANIFEST))
        for key in keys:
            s3.delete_object(Bucket=self.bucket, Key=key)

    def _list(self, s3: Any, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys


def open_target(where: str, *, s3_endpoint: str = "", s3_region: str = "") -> Target:
    """``s3://bucket/prefix`` or a directory path."""
    if where.startswith("s3://"):
        u = urlsplit(where)
        if not u.netloc:
            raise BackupError(f"{where!r}: name the bucket, e.g. s3://dehong-backups/county-pilot")
        return S3Target(u.netloc, u.path.strip("/"), s3_endpoint or None, s3_region or None)
    return DirectoryTarget(Path(where))
