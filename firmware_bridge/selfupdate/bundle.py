"""A gateway release bundle: a tar of ``manifest.json``, ``manifest.sig`` and ``wheels/*.whl``.

The manifest is the signing module's :class:`~firmware_bridge.signing.Manifest` with
``kind="gateway-release"``; ``files`` maps each wheel's file name to its SHA-256,
``size`` is the wheels' total size and ``sha256`` the SHA-256 of the
``sha256sum``-style listing of ``files`` (``"{hash}  {name}\\n"``, sorted by name), so
the signature covers every wheel. The tar is not compressed (wheels already are).

Reading a bundle trusts nothing before the signature is checked: the tar may hold only
those three kinds of member, regular files, no links, no paths outside ``wheels/``, no
duplicates, each within a size limit; every wheel is hashed while it is extracted and
compared with the signed manifest, and a wheel the manifest does not name is refused.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.signing import DigestError, Manifest, sign_manifest, verify_manifest

KIND = "gateway-release"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
WHEELS = "wheels"
#: Largest manifest accepted, bytes (read before the signature is checked).
MAX_MANIFEST_BYTES = 1 << 20
#: Largest wheel accepted, bytes.
MAX_WHEEL_BYTES = 256 << 20
#: Largest bundle accepted (all wheels), bytes.
MAX_BUNDLE_BYTES = 1 << 30
#: A release version becomes a directory name: keep it to a safe alphabet.
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")
WHEEL_RE = re.compile(r"^[A-Za-z0-9_.+-]{1,200}\.whl$")


class BundleError(DigestError):
    """A bundle that is malformed or whose files do not match its signed manifest."""


def listing_sha256(files: dict[str, str]) -> str:
    """SHA-256 of the ``sha256sum``-style listing of ``files`` (sorted by name)."""
    text = "".join(f"{digest}  {name}\n" for name, digest in sorted(files.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def default_target(machine: str | None = None) -> str:
    """The target a gateway accepts: ``gateway-{machine}`` (``gateway-aarch64`` on a Pi)."""
    import platform

    return f"gateway-{machine or platform.machine()}"


def check_version(version: str) -> str:
    if not VERSION_RE.match(version):
        raise BundleError(
            f"version: {version!r} is not a release version (letters, digits, '.+_-', "
            "at most 64, starting with a letter or digit)"
        )
    return version


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_manifest(
    wheels: Iterable[Path], *, version: str, target: str, allow_downgrade: bool = False
) -> Manifest:
    paths = sorted(wheels, key=lambda p: p.name)
    if not paths:
        raise BundleError("wheels: no .whl file to bundle")
    files: dict[str, str] = {}
    size = 0
    for p in paths:
        if not WHEEL_RE.match(p.name):
            raise BundleError(f"wheels: {p.name!r} is not a wheel file name")
        files[p.name] = _sha256_file(p)
        size += p.stat().st_size
    return Manifest(
        kind=KIND,
        target=target,
        version=check_version(version),
        size=size,
        sha256=listing_sha256(files),
        allow_downgrade=allow_downgrade,
        files=files,
    )


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def build_bundle(
    private_key: bytes,
    wheels_dir: Path,
    out: Path,
    *,
    version: str,
    target: str,
    allow_downgrade: bool = False,
) -> Manifest:
    """Sign a manifest of every ``*.whl`` in ``wheels_dir`` and write the bundle ``out``."""
    wheels = sorted(Path(wheels_dir).glob("*.whl"))
    manifest = build_manifest(
        wheels, version=version, target=target, allow_downgrade=allow_downgrade
    )
    data = manifest.to_bytes()
    sig = sign_manifest(private_key, manifest)
    now = time.time()
    tmp = out.with_name(out.name + ".part")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, MANIFEST, data, now)
        _add_bytes(tar, SIGNATURE, sig, now)
        for w in wheels:
            info = tar.gettarinfo(str(w), arcname=f"{WHEELS}/{w.name}")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o644
            with w.open("rb") as f:
                tar.addfile(info, f)
    tmp.replace(out)
    return manifest


@dataclass(frozen=True)
class OpenedBundle:
    manifest: Manifest
    #: the directory holding the verified wheels
    wheels_dir: Path

    @property
    def wheels(self) -> list[Path]:
        return [self.wheels_dir / name for name in sorted(self.manifest.files or {})]


def _read_member(tar: tarfile.TarFile, info: tarfile.TarInfo, limit: int) -> bytes:
    if info.size > limit:
        raise BundleError(f"{info.name}: {info.size} bytes, more than the {limit} allowed")
    f = tar.extractfile(info)
    assert f is not None
    return f.read()


def read_manifest(bundle: Path) -> tuple[bytes, bytes]:
    """The manifest's bytes and its signature, as stored (nothing verified yet)."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(bundle, "r:") as tar:
            for info in tar:
                if info.name in (MANIFEST, SIGNATURE):
                    if not info.isreg():
                        raise BundleError(f"{bundle}: {info.name} is not a regular file")
                    if info.name in found:
                        raise BundleError(f"{bundle}: {info.name} appears twice")
                    found[info.name] = _read_member(tar, info, MAX_MANIFEST_BYTES)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleError(f"{bundle}: not a readable release bundle ({exc})") from None
    for name in (MANIFEST, SIGNATURE):
        if name not in found:
            raise BundleError(f"{bundle}: no {name} in the bundle")
    return found[MANIFEST], found[SIGNATURE]


def verify_bundle(
    bundle: Path,
    public_keys: list[bytes],
    *,
    expected_target: str,
    installed_version: str | None,
) -> Manifest:
    """Check the signature, target, version (no downgrade unless signed as allowed) and
    kind of ``bundle``'s manifest; raises :class:`ImageRejected` subclasses."""
    data, sig = read_manifest(bundle)
    manifest = verify_manifest(
        data,
        sig,
        public_keys,
        expected_target=expected_target,
        installed_version=installed_version,
    )
    if manifest.kind != KIND:
        raise BundleError(f"manifest.kind: {manifest.kind!r} is not {KIND!r}")
    check_version(manifest.version)
    files = manifest.files or {}
    if not files:
        raise BundleError("manifest.files: a gateway release names at least one wheel")
    for name in files:
        if not WHEEL_RE.match(name):
            raise BundleError(f"manifest.files: {name!r} is not a wheel file name")
    if listing_sha256(files) != manifest.sha256:
        raise BundleError("manifest.sha256: does not match the listing of manifest.files")
    return manifest


def extract_wheels(bundle: Path, manifest: Manifest, dest: Path) -> OpenedBundle:
    """Extract the wheels the verified ``manifest`` names into ``dest``, hashing each one;
    any member that is not the manifest, its signature or a named wheel is refused, and
    so is a wheel whose SHA-256 differs or a named wheel that is missing."""
    files = dict(manifest.files or {})
    dest.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    total = 0
    try:
        with tarfile.open(bundle, "r:") as tar:
            for info in tar:
                if info.name in (MANIFEST, SIGNATURE):
                    continue
                if not info.isreg():
                    raise BundleError(f"{info.name}: not a regular file (links are refused)")
                folder, _, name = info.name.partition("/")
                if folder != WHEELS or name not in files:
                    raise BundleError(f"{info.name}: not named by the signed manifest")
                if name in seen:
                    raise BundleError(f"{info.name}: appears twice")
                seen.add(name)
                if info.size > MAX_WHEEL_BYTES:
                    raise BundleError(f"{info.name}: {info.size} bytes, over {MAX_WHEEL_BYTES}")
                total += info.size
                if total > MAX_BUNDLE_BYTES:
                    raise BundleError(f"{bundle}: more than {MAX_BUNDLE_BYTES} bytes of wheels")
                src = tar.extractfile(info)
                assert src is not None
                h = hashlib.sha256()
                target = dest / name
                with target.open("wb") as out:
                    while chunk := src.read(1 << 20):
                        h.update(chunk)
                        out.write(chunk)
                if h.hexdigest() != files[name]:
                    target.unlink()
                    raise BundleError(
                        f"{info.name}: SHA-256 {h.hexdigest()} is not the signed {files[name]}"
                    )
    except (tarfile.TarError, EOFError) as exc:
        raise BundleError(f"{bundle}: not a readable release bundle ({exc})") from None
    missing = sorted(set(files) - seen)
    if missing:
        raise BundleError(f"{bundle}: signed wheel(s) missing: {', '.join(missing)}")
    if total != manifest.size:
        raise BundleError(f"manifest.size: {manifest.size} bytes signed, {total} in the bundle")
    return OpenedBundle(manifest, dest)
