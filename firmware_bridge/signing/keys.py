"""Ed25519 keys on disk.

Keys are written as PEM (PKCS#8 private, SubjectPublicKeyInfo public), which is
also what MCUboot's ``imgtool`` reads, so one key signs both manifest and MCUboot
images. Readers also accept a raw 32-byte file or 64 hex digits.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PathLike = str | os.PathLike[str]
PUBLIC_SUFFIXES = (".pub", ".pem")


def generate_keypair() -> tuple[bytes, bytes]:
    """(raw private 32 bytes, raw public 32 bytes)."""
    key = Ed25519PrivateKey.generate()
    return _raw_private(key), _raw_public(key.public_key())


def public_key_of(private_key: bytes) -> bytes:
    return _raw_public(
        Ed25519PrivateKey.from_private_bytes(_check32("private key", private_key)).public_key()
    )


def private_key_pem(private_key: bytes) -> bytes:
    key = Ed25519PrivateKey.from_private_bytes(_check32("private key", private_key))
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(public_key: bytes) -> bytes:
    key = Ed25519PublicKey.from_public_bytes(_check32("public key", public_key))
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def save_private_key(path: PathLike, key: bytes) -> None:
    """Write the key as PKCS#8 PEM, mode 0600, refusing to overwrite an existing file."""
    pem = private_key_pem(key)
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
    finally:
        os.close(fd)


def save_public_key(path: PathLike, key: bytes) -> None:
    Path(path).write_bytes(public_key_pem(key))


def load_private_key(path: PathLike) -> bytes:
    data = Path(path).read_bytes()
    if b"-----BEGIN" in data:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: not an unencrypted PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: is a {type(key).__name__}, not an Ed25519 private key")
        return _raw_private(key)
    return _raw_or_hex(path, data, "private key")


def load_public_keys(paths_or_dir: PathLike | Iterable[PathLike]) -> list[bytes]:
    """Public keys from files, or from every ``*.pub``/``*.pem`` file of a directory."""
    if isinstance(paths_or_dir, (str, os.PathLike)):
        paths: list[Path] = [Path(paths_or_dir)]
    else:
        paths = [Path(p) for p in paths_or_dir]
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir() if f.suffix in PUBLIC_SUFFIXES))
        else:
            files.append(p)
    keys: list[bytes] = []
    for f in files:
        data = f.read_bytes()
        if b"-----BEGIN" in data:
            try:
                key = serialization.load_pem_public_key(data)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{f}: not a PEM public key ({exc})") from None
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError(f"{f}: is a {type(key).__name__}, not an Ed25519 public key")
            keys.append(_raw_public(key))
        else:
            keys.append(_raw_or_hex(f, data, "public key"))
    return keys


def _raw_or_hex(path: PathLike, data: bytes, what: str) -> bytes:
    if len(data) == 32:
        return data
    text = data.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    raise ValueError(f"{path}: not an Ed25519 {what} (PEM, 32 raw bytes or 64 hex digits)")


def _check32(what: str, key: bytes) -> bytes:
    if len(key) != 32:
        raise ValueError(f"{what}: {len(key)} bytes, an Ed25519 key has 32")
    return key


def _raw_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
