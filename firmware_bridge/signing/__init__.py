"""Signed firmware manifests: Ed25519 over canonical JSON.

A release engineer signs with an offline private key (``dehong fw keygen``,
``dehong fw sign``); nodes, gateways and the cloud hold only public keys and call
:func:`verify_manifest`, which refuses a bad signature, an image for other
hardware, and a downgrade that the signed manifest does not allow.
"""

from __future__ import annotations

from firmware_bridge.signing.keys import (
    generate_keypair,
    load_private_key,
    load_public_keys,
    public_key_of,
    save_private_key,
    save_public_key,
)
from firmware_bridge.signing.manifest import (
    KINDS,
    DigestError,
    DowngradeError,
    ImageRejected,
    Manifest,
    SignatureError,
    WrongTargetError,
    manifest_for_image,
    sign_manifest,
    verify_image,
    verify_manifest,
)

__all__ = [
    "KINDS",
    "DigestError",
    "DowngradeError",
    "ImageRejected",
    "Manifest",
    "SignatureError",
    "WrongTargetError",
    "generate_keypair",
    "load_private_key",
    "load_public_keys",
    "manifest_for_image",
    "public_key_of",
    "save_private_key",
    "save_public_key",
    "sign_manifest",
    "verify_image",
    "verify_manifest",
]
