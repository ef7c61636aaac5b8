"""``dehong fw keygen`` and ``dehong fw sign``.

``keygen`` writes ``fw-signing.key`` (PKCS#8 PEM, 0600: keep it offline) and
``fw-signing.pub`` (give it to gateways, nodes and the cloud). ``sign`` copies the
image into ``--out`` beside ``manifest.json`` (canonical bytes) and
``manifest.sig`` (64 raw bytes, Ed25519). ``--format mcuboot`` instead writes an
MCUboot image (``<name>.signed.bin``, imgtool's ed25519 TLV) plus the same
manifest over that signed image. Exit 0 on success, 2 on bad input.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

PRIVATE_NAME = "fw-signing.key"
PUBLIC_NAME = "fw-signing.pub"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keygen = sub.add_parser("keygen", help="make an Ed25519 signing key pair")
    keygen.add_argument("--out", required=True, type=Path, help="directory for the key pair")
    keygen.set_defaults(handler=_keygen)

    sign = sub.add_parser("sign", help="sign a firmware image or gateway release")
    sign.add_argument("--key", required=True, type=Path, help="private key (PEM)")
    sign.add_argument("--image", required=True, type=Path, help="image file to sign")
    sign.add_argument("--target", required=True, help="hardware id, or gateway-aarch64")
    sign.add_argument("--version", required=True, help="image version, e.g. 1.4.0")
    sign.add_argument("--min-bootloader", default=None, help="lowest bootloader that boots it")
    sign.add_argument(
        "--allow-downgrade",
        action="store_true",
        help="let devices with a newer version install this one (signed into the manifest)",
    )
    sign.add_argument(
        "--kind",
        choices=("node-image", "gateway-release"),
        default=None,
        help="(gateway-release when --target starts with gateway-, else node-image)",
    )
    sign.add_argument(
        "--format",
        choices=("manifest", "mcuboot"),
        default="manifest",
        help="manifest: image + manifest.json/.sig; mcuboot: also an imgtool-signed image",
    )
    sign.add_argument("--header-size", type=lambda s: int(s, 0), default=0x200)
    sign.add_argument("--slot-size", type=lambda s: int(s, 0), default=None)
    sign.add_argument("--out", type=Path, default=Path("."), help="output directory (.)")
    sign.set_defaults(handler=_sign)


def _keygen(args: argparse.Namespace) -> int:
    from firmware_bridge.signing import generate_keypair, save_private_key, save_public_key

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out / PRIVATE_NAME, out / PUBLIC_NAME
    for p in (private_path, public_path):
        if p.exists():
            print(f"dehong fw keygen: {p} exists; refusing to overwrite a key", file=sys.stderr)
            return 2
    private, public = generate_keypair()
    save_private_key(private_path, private)
    save_public_key(public_path, public)
    print(f"private key {private_path} (0600, keep it offline)")
    print(f"public key  {public_path} ({public.hex()})")
    return 0


def _sign(args: argparse.Namespace) -> int:
    from firmware_bridge.signing import load_private_key, manifest_for_image, sign_manifest

    try:
        key = load_private_key(args.key)
        if not args.image.is_file():
            raise ValueError(f"--image: {args.image} is not a file")
        kind = args.kind or (
            "gateway-release" if args.target.startswith("gateway-") else "node-image"
        )
        args.out.mkdir(parents=True, exist_ok=True)
        if args.format == "mcuboot":
            from firmware_bridge.signing.mcuboot import sign_mcuboot

            image_path = args.out / (args.image.stem + ".signed.bin")
            sign_mcuboot(
                args.key,
                args.image,
                image_path,
                version=args.version,
                header_size=args.header_size,
                slot_size=args.slot_size,
            )
        else:
            image_path = args.out / args.image.name
            if image_path.resolve() != args.image.resolve():
                shutil.copyfile(args.image, image_path)
        manifest = manifest_for_image(
            image_path.read_bytes(),
            target=args.target,
            version=args.version,
            kind=kind,
            min_bootloader=args.min_bootloader,
            allow_downgrade=args.allow_downgrade,
        )
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"dehong fw sign: {exc}", file=sys.stderr)
        return 2
    (args.out / "manifest.json").write_bytes(manifest.to_bytes())
    (args.out / "manifest.sig").write_bytes(sign_manifest(key, manifest))
    print(f"{image_path} {manifest.size} bytes sha256 {manifest.sha256}")
    print(f"{args.out / 'manifest.json'} + manifest.sig ({kind} {args.target} {args.version})")
    return 0
