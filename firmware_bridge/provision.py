"""Provisioning a node: make its key, write it over the serial console, keep it.

The key goes to the node over its console (a cable on the bench, never the air):
``key set <64 hex>``; the node answers ``OK <first 8 hex of sha256(key)>``, which
proves it holds the same key without echoing it. Only then is the key stored in
the gateway's encrypted key store (firmware_bridge.keystore). The key itself is
never printed.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.keystore import KeyStore, new_node_key


class ProvisionError(RuntimeError):
    pass


@dataclass(frozen=True)
class Provisioned:
    bus: str
    node: int
    fingerprint: str


def fingerprint(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def write_key_over_console(console: str, key: bytes, timeout_s: float = 5.0) -> str:
    """Send the key to the node's console; returns the fingerprint it answered."""
    import serial

    with serial.Serial(console, 115_200, timeout=0.1, write_timeout=timeout_s) as port:
        port.reset_input_buffer()
        port.write(f"key set {key.hex()}\r\n".encode())
        deadline = time.monotonic() + timeout_s
        buf = b""
        while time.monotonic() < deadline:
            buf += port.read(256)
            if b"\n" in buf:
                line = buf.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
                if line.startswith("OK "):
                    return line[3:].strip()
                raise ProvisionError(f"the node refused the key: {line}")
    raise ProvisionError(f"no answer on the console {console} within {timeout_s} s")


def provision(
    console: str, bus: str, node: int, keystore: Path, keystore_key: Path, timeout_s: float = 5.0
) -> Provisioned:
    key = new_node_key()
    answered = write_key_over_console(console, key, timeout_s)
    if answered != fingerprint(key):
        raise ProvisionError(
            f"the node answered fingerprint {answered}, expected {fingerprint(key)}: not stored"
        )
    KeyStore(keystore, keystore_key).put(bus, node, key)
    return Provisioned(bus, node, answered)
