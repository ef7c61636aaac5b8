"""Node keys at rest on the gateway: one file, encrypted with a gateway-local key.

`dehong fw provision` makes a node key (32 random bytes), writes it to the node over
its serial console, and stores it here; the MCU driver reads it to check the HMAC of
each UDP frame. The store is AES-256-GCM (cryptography's AESGCM) of a JSON object
``{"<bus>/<node>": "<hex key>"}`` under the key in ``key_file`` (32 random bytes,
mode 0600, made on first use); a changed or truncated store fails to open, it is
never read half-way. Keys are never sent over the air: the protocol has no message
that carries one.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

NODE_KEY_SIZE = 32
_MAGIC = b"DHK1"
_AAD = b"dehong mcu node keys v1"


class KeyStoreError(ValueError):
    pass


def _aesgcm(key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def load_or_create_key(key_file: Path) -> bytes:
    if key_file.exists():
        key = key_file.read_bytes()
        if len(key) != 32:
            raise KeyStoreError(f"{key_file}: gateway key must be 32 bytes, has {len(key)}")
        return key
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def slot(bus: str, node: int) -> str:
    return f"{bus}/{node}"


class KeyStore:
    def __init__(self, path: Path, key_file: Path) -> None:
        self.path = Path(path)
        self.key_file = Path(key_file)

    def load(self) -> dict[str, bytes]:
        if not self.path.exists():
            return {}
        if not self.key_file.exists():
            raise KeyStoreError(f"{self.path}: its gateway key {self.key_file} is missing")
        blob = self.path.read_bytes()
        if len(blob) < 4 + 12 + 16 or blob[:4] != _MAGIC:
            raise KeyStoreError(f"{self.path}: not a node key store")
        from cryptography.exceptions import InvalidTag

        try:
            plain = _aesgcm(load_or_create_key(self.key_file)).decrypt(blob[4:16], blob[16:], _AAD)
        except InvalidTag:
            raise KeyStoreError(
                f"{self.path}: cannot decrypt (altered, or another gateway's key)"
            ) from None
        return {k: bytes.fromhex(v) for k, v in json.loads(plain).items()}

    def save(self, keys: dict[str, bytes]) -> None:
        key = load_or_create_key(self.key_file)
        nonce = secrets.token_bytes(12)
        plain = json.dumps({k: v.hex() for k, v in sorted(keys.items())}).encode()
        blob = _MAGIC + nonce + _aesgcm(key).encrypt(nonce, plain, _AAD)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def put(self, bus: str, node: int, node_key: bytes) -> None:
        if len(node_key) != NODE_KEY_SIZE:
            raise KeyStoreError(f"node key must be {NODE_KEY_SIZE} bytes")
        keys = self.load()
        keys[slot(bus, node)] = node_key
        self.save(keys)

    def get(self, bus: str, node: int) -> bytes | None:
        return self.load().get(slot(bus, node))


def new_node_key() -> bytes:
    return secrets.token_bytes(NODE_KEY_SIZE)
