"""Signed manifests: canonical bytes, Ed25519, refusals with a clear reason, the CLI."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_bridge.signing import (
    DigestError,
    DowngradeError,
    ImageRejected,
    Manifest,
    SignatureError,
    WrongTargetError,
    generate_keypair,
    load_private_key,
    load_public_keys,
    manifest_for_image,
    public_key_of,
    save_private_key,
    save_public_key,
    sign_manifest,
    verify_image,
    verify_manifest,
)

ROOT = Path(__file__).resolve().parents[2]
IMAGE = bytes(range(256)) * 40


def _manifest(**kw: object) -> Manifest:
    args: dict[str, object] = {"target": "esp32-soil-v2", "version": "1.4.0"}
    args.update(kw)
    return manifest_for_image(IMAGE, **args)  # type: ignore[arg-type]


def test_canonical_bytes_are_sorted_compact_and_round_trip() -> None:
    m = _manifest(min_bootloader="2.0", files={"b.whl": "0" * 64})
    data = m.to_bytes()
    assert data.startswith(b'{"allow_downgrade":false,"files":{"b.whl":')
    assert b" " not in data
    assert Manifest.from_bytes(data) == m
    assert m.sha256 == hashlib.sha256(IMAGE).hexdigest() and m.size == len(IMAGE)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"kind":"x","target":"t","version":"1","size":1,"sha256":"' + b"a" * 64 + b'"}', "kind"),
        (
            b'{"kind":"node-image","target":"t","version":"one","size":1,"sha256":"'
            + b"a" * 64
            + b'"}',
            "version",
        ),
        (
            b'{"kind":"node-image","target":"t","version":"1","size":-1,"sha256":"'
            + b"a" * 64
            + b'"}',
            "size",
        ),
        (b'{"kind":"node-image","target":"t","version":"1","size":1,"sha256":"zz"}', "sha256"),
        (b'{"kind":"node-image","target":"t","version":"1","size":1}', "sha256"),
        (
            b'{"kind":"node-image","target":"t","version":"1","size":1,"sha256":"'
            + b"a" * 64
            + b'","evil":1}',
            "evil",
        ),
        (b"[1]", "object"),
        (b"\xff", "JSON"),
    ],
)
def test_bad_manifest_names_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Manifest.from_bytes(raw)


def test_verify_accepts_signed_and_refuses_the_rest() -> None:
    private, public = generate_keypair()
    other_private, other_public = generate_keypair()
    assert public_key_of(private) == public
    m = _manifest()
    sig = sign_manifest(private, m)
    assert len(sig) == 64
    ok = verify_manifest(
        m.to_bytes(),
        sig,
        [other_public, public],
        expected_target="esp32-soil-v2",
        installed_version="1.3.9",
    )
    assert ok == m
    # same version is a re-install, not a downgrade
    verify_manifest(
        m.to_bytes(), sig, [public], expected_target="esp32-soil-v2", installed_version="1.4.0"
    )

    with pytest.raises(SignatureError, match="any of the 1 trusted"):
        verify_manifest(
            m.to_bytes(),
            sig,
            [other_public],
            expected_target="esp32-soil-v2",
            installed_version=None,
        )
    with pytest.raises(SignatureError, match="64"):
        verify_manifest(
            m.to_bytes(), b"", [public], expected_target="esp32-soil-v2", installed_version=None
        )
    with pytest.raises(SignatureError, match="no trusted"):
        verify_manifest(m.to_bytes(), sig, [], expected_target="x", installed_version=None)
    tampered = m.to_bytes().replace(b"1.4.0", b"1.4.1")
    with pytest.raises(SignatureError):
        verify_manifest(
            tampered, sig, [public], expected_target="esp32-soil-v2", installed_version=None
        )
    with pytest.raises(WrongTargetError, match="stm32-door-v1"):
        verify_manifest(
            m.to_bytes(), sig, [public], expected_target="stm32-door-v1", installed_version=None
        )
    with pytest.raises(DowngradeError, match=r"1\.4\.0 is older than the installed 1\.10\.0"):
        verify_manifest(
            m.to_bytes(), sig, [public], expected_target="esp32-soil-v2", installed_version="1.10.0"
        )
    assert issubclass(DowngradeError, ImageRejected) and issubclass(ImageRejected, ValueError)
    del other_private


def test_downgrade_only_when_signed_as_allowed() -> None:
    private, public = generate_keypair()
    m = _manifest(version="1.2.0", allow_downgrade=True)
    sig = sign_manifest(private, m)
    assert verify_manifest(
        m.to_bytes(), sig, [public], expected_target="esp32-soil-v2", installed_version="1.4.0"
    ).allow_downgrade
    # flipping the flag in an unsigned copy breaks the signature
    plain = _manifest(version="1.2.0")
    forged = plain.to_bytes().replace(b'"allow_downgrade":false', b'"allow_downgrade":true')
    with pytest.raises(SignatureError):
        verify_manifest(
            forged,
            sign_manifest(private, plain),
            [public],
            expected_target="esp32-soil-v2",
            installed_version="1.4.0",
        )


def test_signed_but_invalid_manifest_is_refused() -> None:
    private, public = generate_keypair()
    data = b'{"kind":"node-image"}'
    sig = (
        __import__("cryptography.hazmat.primitives.asymmetric.ed25519", fromlist=["x"])
        .Ed25519PrivateKey.from_private_bytes(private)
        .sign(data)
    )
    with pytest.raises(SignatureError, match="signed but invalid"):
        verify_manifest(data, sig, [public], expected_target="x", installed_version=None)


def test_verify_image_checks_size_and_digest() -> None:
    m = _manifest()
    verify_image(m, IMAGE)
    with pytest.raises(DigestError, match="size"):
        verify_image(m, IMAGE[:-1])
    with pytest.raises(DigestError, match="sha256"):
        verify_image(m, IMAGE[:-1] + b"\x00")


def test_keys_on_disk(tmp_path: Path) -> None:
    private, public = generate_keypair()
    save_private_key(tmp_path / "k.key", private)
    assert stat.S_IMODE(os.stat(tmp_path / "k.key").st_mode) == 0o600
    assert load_private_key(tmp_path / "k.key") == private
    with pytest.raises(FileExistsError):
        save_private_key(tmp_path / "k.key", private)
    keys = tmp_path / "trusted"
    keys.mkdir()
    save_public_key(keys / "a.pub", public)
    (keys / "b.pub").write_text(generate_keypair()[1].hex() + "\n")
    (keys / "README").write_text("not a key")
    found = load_public_keys(keys)
    assert len(found) == 2 and public in found
    assert load_public_keys([keys / "a.pub"]) == [public]
    (tmp_path / "bad.pub").write_text("nope")
    with pytest.raises(ValueError, match=r"bad\.pub"):
        load_public_keys(tmp_path / "bad.pub")


def _dehong(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "dehong.cli", "fw", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_keygen_and_sign(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    r = _dehong("keygen", "--out", str(keys))
    assert r.returncode == 0, r.stderr
    assert _dehong("keygen", "--out", str(keys)).returncode == 2  # never overwrites
    image = tmp_path / "app.bin"
    image.write_bytes(IMAGE)
    out = tmp_path / "release"
    r = _dehong(
        "sign",
        "--key",
        str(keys / "fw-signing.key"),
        "--image",
        str(image),
        "--target",
        "esp32-soil-v2",
        "--version",
        "1.5.0",
        "--min-bootloader",
        "2.1",
        "--allow-downgrade",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    m = verify_manifest(
        (out / "manifest.json").read_bytes(),
        (out / "manifest.sig").read_bytes(),
        load_public_keys(keys / "fw-signing.pub"),
        expected_target="esp32-soil-v2",
        installed_version="9.0",
    )
    assert (m.kind, m.version, m.min_bootloader, m.allow_downgrade) == (
        "node-image",
        "1.5.0",
        "2.1",
        True,
    )
    verify_image(m, (out / "app.bin").read_bytes())
    bad = _dehong(
        "sign",
        "--key",
        str(keys / "fw-signing.key"),
        "--image",
        str(image),
        "--target",
        "t",
        "--version",
        "v1.x",
        "--out",
        str(out),
    )
    assert bad.returncode == 2 and "version" in bad.stderr
