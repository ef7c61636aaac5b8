"""``dehong fw bundle`` (the release engineer) and ``dehong fw self-update`` (the gateway).

::

    dehong fw bundle --key fw-signing.key --version 1.4.0 --wheels dist/aarch64/ \\
        --out dehong-gateway-1.4.0.tar                       # target gateway-aarch64
    dehong fw self-update verify BUNDLE                      # checks only, changes nothing
    dehong fw self-update apply BUNDLE                       # verify, install, switch, watch
    dehong fw self-update apply-incoming                     # each bundle of --incoming
    dehong fw self-update resume                             # at boot: finish a trial
    dehong fw self-update status [--json]

Exit codes: 0 done (confirmed, or nothing to do), 1 rolled back or failed, 2 refused
(bad bundle, bad signature, wrong target, downgrade, bad arguments: nothing changed).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from firmware_bridge.selfupdate.updater import SelfUpdater

log = logging.getLogger(__name__)

DEFAULT_KEYS = Path("/etc/dehong/release-keys")
DEFAULT_CONFIG = Path("/etc/dehong/gateway.yaml")
DEFAULT_INCOMING = Path("/var/lib/dehong-update/incoming")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bundle = sub.add_parser("bundle", help="sign wheels into a gateway release bundle")
    bundle.add_argument("--key", required=True, type=Path, help="private signing key (PEM)")
    bundle.add_argument("--version", required=True, help="release version, e.g. 1.4.0")
    bundle.add_argument("--wheels", required=True, type=Path, help="directory of *.whl")
    bundle.add_argument("--out", required=True, type=Path, help="bundle file to write (.tar)")
    bundle.add_argument(
        "--target", default="gateway-aarch64", help="hardware it is for (gateway-aarch64)"
    )
    bundle.add_argument(
        "--allow-downgrade", action="store_true", help="may replace a newer release (signed)"
    )
    bundle.set_defaults(handler=_bundle)

    su = sub.add_parser("self-update", help="install a signed release on this gateway")
    actions = su.add_subparsers(dest="su_command", required=True, metavar="ACTION")
    for name, help_, handler in (
        ("verify", "check a bundle (signature, target, version, hashes); change nothing", _verify),
        ("apply", "verify, install next to the running one, switch, watch, roll back", _apply),
        ("apply-incoming", "apply each bundle dropped into --incoming, oldest first", _incoming),
        ("resume", "after a reboot: finish an update that was on trial", _resume),
        ("status", "releases installed, current, previous, the last update", _status),
    ):
        p = actions.add_parser(name, help=help_)
        if name in ("verify", "apply"):
            p.add_argument("bundle", type=Path, help="release bundle (.tar)")
        _common(p)
        p.set_defaults(handler=handler)


def _common(p: argparse.ArgumentParser) -> None:
    from firmware_bridge.selfupdate.layout import DEFAULT_ROOT

    p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="releases live here")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the gateway's YAML")
    p.add_argument(
        "--keys", type=Path, default=DEFAULT_KEYS, help="trusted public key file or directory"
    )
    p.add_argument("--target", default=None, help="this gateway's target (gateway-<machine>)")
    p.add_argument("--unit", default="dehong-edge.service", help="the gateway's systemd unit")
    p.add_argument("--trial-s", type=float, default=600.0, help="time to prove health (600)")
    p.add_argument("--healthy-s", type=float, default=60.0, help="healthy this long (60)")
    p.add_argument("--incoming", type=Path, default=DEFAULT_INCOMING, help="apply-incoming's dir")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _bundle(args: argparse.Namespace) -> int:
    from firmware_bridge.selfupdate.bundle import build_bundle
    from firmware_bridge.signing import load_private_key

    try:
        key = load_private_key(args.key)
        if not args.wheels.is_dir():
            raise ValueError(f"--wheels: {args.wheels} is not a directory")
        manifest = build_bundle(
            key,
            args.wheels,
            args.out,
            version=args.version,
            target=args.target,
            allow_downgrade=args.allow_downgrade,
        )
    except (ValueError, OSError) as exc:
        print(f"dehong fw bundle: {exc}", file=sys.stderr)
        return 2
    files = manifest.files or {}
    if not any(name.startswith("pip-") for name in files):
        print(
            "dehong fw bundle: warning: no pip wheel in the bundle; the release it installs "
            "cannot install the next one by itself",
            file=sys.stderr,
        )
    print(
        f"{args.out}: {manifest.kind} {manifest.target} {manifest.version}, "
        f"{len(files)} wheel(s), {manifest.size} bytes, listing sha256 {manifest.sha256}"
    )
    return 0


def _updater(args: argparse.Namespace) -> SelfUpdater:
    from edge.config import load_config
    from firmware_bridge.selfupdate.layout import Layout
    from firmware_bridge.selfupdate.service import SystemdService
    from firmware_bridge.selfupdate.updater import Policy, SelfUpdater
    from firmware_bridge.signing import load_public_keys

    if not args.keys.exists():
        raise ValueError(f"--keys: {args.keys} does not exist (the trusted release keys)")
    return SelfUpdater(
        Layout(args.root),
        load_public_keys(args.keys),
        load_config(args.config),
        SystemdService(args.unit),
        config_path=args.config,
        target=args.target,
        policy=Policy(trial_s=args.trial_s, healthy_s=args.healthy_s),
    )


def _refused(action: str, exc: Exception) -> int:
    print(f"dehong fw self-update {action}: refused: {exc}", file=sys.stderr)
    return 2


def _verify(args: argparse.Namespace) -> int:
    from edge.config import ConfigError

    try:
        updater = _updater(args)
        manifest = updater.verify(args.bundle)
        import tempfile

        from firmware_bridge.selfupdate.bundle import extract_wheels

        with tempfile.TemporaryDirectory(prefix="dehong-verify-") as tmp:
            extract_wheels(args.bundle, manifest, Path(tmp))
    except (ValueError, OSError, ConfigError) as exc:
        return _refused("verify", exc)
    print(
        f"{args.bundle}: OK: {manifest.target} {manifest.version}, {len(manifest.files or {})} wheel(s)"
    )
    return 0


def _report(result: object, as_json: bool) -> int:
    from firmware_bridge.selfupdate.updater import Result

    assert isinstance(result, Result)
    if as_json:
        print(json.dumps({**result.__dict__, "ok": result.ok}))
    else:
        print(f"{result.outcome}: {result.version} (previous {result.previous}): {result.reason}")
    return 0 if result.ok else 1


def _apply(args: argparse.Namespace) -> int:
    from edge.config import ConfigError

    try:
        updater = _updater(args)
        result = updater.apply(args.bundle)
    except (ValueError, OSError, ConfigError) as exc:
        return _refused("apply", exc)
    except RuntimeError as exc:  # InstallError, another update running
        print(f"dehong fw self-update apply: failed, nothing switched: {exc}", file=sys.stderr)
        return 1
    return _report(result, args.json)


def _incoming(args: argparse.Namespace) -> int:
    """Each ``*.tar`` of ``--incoming`` (oldest first) is applied, then moved to ``done/``
    or ``rejected/`` beside it (with the reason in ``<name>.reason``)."""
    from edge.config import ConfigError

    incoming: Path = args.incoming
    bundles = sorted(incoming.glob("*.tar"), key=lambda p: p.stat().st_mtime)
    if not bundles:
        return 0
    try:
        updater = _updater(args)
    except (ValueError, OSError, ConfigError) as exc:
        return _refused("apply-incoming", exc)
    worst = 0
    for bundle in bundles:
        try:
            result = updater.apply(bundle)
            code = _report(result, args.json)
            verdict, reason = ("done" if result.ok else "rejected"), result.reason
        except (ValueError, OSError, RuntimeError) as exc:
            code, verdict, reason = (
                (1 if isinstance(exc, RuntimeError) else 2),
                "rejected",
                str(exc),
            )
            print(f"dehong fw self-update apply-incoming: {bundle.name}: {exc}", file=sys.stderr)
        dest = incoming.parent / verdict
        dest.mkdir(parents=True, exist_ok=True)
        bundle.replace(dest / bundle.name)
        (dest / f"{bundle.name}.reason").write_text(reason + "\n")
        worst = max(worst, code)
    return worst


def _resume(args: argparse.Namespace) -> int:
    from edge.config import ConfigError

    try:
        result = _updater(args).resume()
    except (ValueError, OSError, ConfigError) as exc:
        return _refused("resume", exc)
    if result is None:
        print("no update on trial")
        return 0
    return _report(result, args.json)


def _status(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from firmware_bridge.selfupdate.layout import Layout

    layout = Layout(args.root)
    state = layout.read_state()
    data = {
        "root": str(layout.root),
        "current": layout.current_version(),
        "previous": layout.previous_version(),
        "installed": layout.installed(),
        "last_update": asdict(state) if state else None,
    }
    if args.json:
        print(json.dumps(data))
        return 0
    print(f"current {data['current']}, previous {data['previous']}, installed {data['installed']}")
    if state is not None:
        print(
            f"last update: {state.state}: {state.from_version} -> {state.to_version}"
            + (f" ({state.reason})" if state.reason else "")
        )
    return 0
