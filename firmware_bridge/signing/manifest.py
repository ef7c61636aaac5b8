"""The manifest, its canonical bytes, and the checks a receiver makes."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from packaging.version import InvalidVersion, Version

KINDS = ("node-image", "gateway-release")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: A manifest is small; anything bigger is not one (and is not parsed).
MAX_MANIFEST_BYTES = 64 * 1024


class ImageRejected(ValueError):
    """An image or manifest that a node, gateway or the cloud must not accept."""


class SignatureError(ImageRejected):
    """The manifest is unsigned, malformed, or signed by no trusted key."""


class WrongTargetError(ImageRejected):
    """The manifest names other hardware than the receiver's."""


class DowngradeError(ImageRejected):
    """The manifest's version is older than the installed one, and not signed as allowed."""


class DigestError(ImageRejected):
    """The image's size or SHA-256 differs from the signed manifest's."""


def _parse_version(field: str, value: str) -> Version:
    try:
        return Version(value)
    except InvalidVersion:
        raise ValueError(f"{field}: {value!r} is not a version (e.g. 1.4.2)") from None


@dataclass(frozen=True)
class Manifest:
    kind: str
    target: str
    version: str
    size: int
    sha256: str
    min_bootloader: str | None = None
    allow_downgrade: bool = False
    files: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: {self.kind!r} is not one of {', '.join(KINDS)}")
        if not isinstance(self.target, str) or not self.target or len(self.target) > 64:
            raise ValueError(f"target: {self.target!r} must be a non-empty string of <= 64 chars")
        if not isinstance(self.version, str):
            raise ValueError(f"version: {self.version!r} must be a string")
        _parse_version("version", self.version)
        if self.min_bootloader is not None:
            if not isinstance(self.min_bootloader, str):
                raise ValueError(f"min_bootloader: {self.min_bootloader!r} must be a string")
            _parse_version("min_bootloader", self.min_bootloader)
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise ValueError(f"size: {self.size!r} must be a non-negative integer")
        if not isinstance(self.sha256, str) or not _HEX64.match(self.sha256):
            raise ValueError("sha256: must be 64 lower-case hex digits")
        if not isinstance(self.allow_downgrade, bool):
            raise ValueError(f"allow_downgrade: {self.allow_downgrade!r} must be true or false")
        if self.files is not None:
            if not isinstance(self.files, dict):
                raise ValueError("files: must be an object of name -> sha256")
            for name, digest in self.files.items():
                if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
                    raise ValueError(f"files: {name!r} is not a plain file name")
                if not isinstance(digest, str) or not _HEX64.match(digest):
                    raise ValueError(f"files[{name!r}]: must be 64 lower-case hex digits")

    @property
    def parsed_version(self) -> Version:
        return Version(self.version)

    def to_bytes(self) -> bytes:
        """Canonical JSON: sorted keys, no spaces, UTF-8; what the signature covers."""
        return json.dumps(
            asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        if len(data) > MAX_MANIFEST_BYTES:
            raise ValueError(f"manifest: {len(data)} bytes, more than {MAX_MANIFEST_BYTES}")
        try:
            raw: Any = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"manifest: not JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise ValueError("manifest: must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"manifest: unknown field(s) {', '.join(unknown)}")
        missing = sorted(k for k in ("kind", "target", "version", "size", "sha256") if k not in raw)
        if missing:
            raise ValueError(f"manifest: missing field(s) {', '.join(missing)}")
        return cls(**raw)


def manifest_for_image(
    image: bytes,
    *,
    target: str,
    version: str,
    kind: str = "node-image",
    min_bootloader: str | None = None,
    allow_downgrade: bool = False,
    files: dict[str, str] | None = None,
) -> Manifest:
    return Manifest(
        kind=kind,
        target=target,
        version=version,
        size=len(image),
        sha256=hashlib.sha256(image).hexdigest(),
        min_bootloader=min_bootloader,
        allow_downgrade=allow_downgrade,
        files=files,
    )


def sign_manifest(private_key: bytes, m: Manifest) -> bytes:
    """The 64-byte Ed25519 signature over ``m.to_bytes()``."""
    if len(private_key) != 32:
        raise ValueError(f"private_key: {len(private_key)} bytes, an Ed25519 key has 32")
    return Ed25519PrivateKey.from_private_bytes(private_key).sign(m.to_bytes())


def verify_manifest(
    data: bytes,
    signature: bytes,
    public_keys: list[bytes],
    *,
    expected_target: str,
    installed_version: str | None,
) -> Manifest:
    """Check the signature first (nothing unsigned is parsed), then target and version.

    A same-version manifest is accepted (a re-install); an older one only when the
    signed manifest says ``allow_downgrade``.
    """
    if not public_keys:
        raise SignatureError("signature: no trusted public key is configured")
    if len(signature) != 64:
        raise SignatureError(f"signature: {len(signature)} bytes, an Ed25519 signature has 64")
    for key in public_keys:
        if len(key) != 32:
            raise SignatureError(f"public key: {len(key)} bytes, an Ed25519 key has 32")
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(signature, data)
            break
        except InvalidSignature:
            continue
    else:
        raise SignatureError(
            f"signature: does not verify under any of the {len(public_keys)} trusted key(s)"
        )
    try:
        m = Manifest.from_bytes(data)
    except ValueError as exc:
        # Signed, but not a manifest we understand: refuse it all the same.
        raise SignatureError(f"manifest: signed but invalid: {exc}") from None
    if m.target != expected_target:
        raise WrongTargetError(
            f"target: the image is for {m.target!r}, this device is {expected_target!r}"
        )
    if installed_version is not None:
        installed = _parse_version("installed_version", installed_version)
        if m.parsed_version < installed and not m.allow_downgrade:
            raise DowngradeError(
                f"version: {m.version} is older than the installed {installed_version} "
                "and the manifest does not allow a downgrade"
            )
    return m


def verify_image(m: Manifest, image: bytes) -> None:
    """The image bytes are the ones the manifest signed: size, then SHA-256."""
    if len(image) != m.size:
        raise DigestError(f"size: the image has {len(image)} bytes, the manifest says {m.size}")
    digest = hashlib.sha256(image).hexdigest()
    if digest != m.sha256:
        raise DigestError(f"sha256: the image hashes to {digest}, the manifest says {m.sha256}")
