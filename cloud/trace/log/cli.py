"""``dehong trace verify BUNDLE``: check a lot bundle offline (no server, no database).

Exit 0 with a summary when every event is in the signed tree; 1 naming the first
failure otherwise; 2 when the file cannot be read. ``--key`` pins the log's published
verifier key (``GET /api/v1/trace/log/key``, or printed by ``dehong cloud init-db``):
without it a bundle can only prove it agrees with the key it carries.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify",
        help="verify a lot bundle offline: events, inclusion proofs, the signed tree head",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("bundle", type=Path, metavar="BUNDLE", help="the bundle (JSON); - for stdin")
    p.add_argument(
        "--key",
        default=None,
        metavar="VKEY",
        help="the log's verifier key <origin>+<id>+<base64>, or a file holding it",
    )
    p.set_defaults(handler=_verify)


def _read(path: Path) -> bytes:
    return sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()


def _verify(args: argparse.Namespace) -> int:
    from cloud.trace.log.bundle import BundleError, load_bundle, verify_bundle

    try:
        text = _read(args.bundle)
        pinned = args.key
        if pinned is not None and "+" not in pinned and Path(pinned).is_file():
            pinned = Path(pinned).read_text(encoding="utf-8").strip()
    except OSError as exc:
        print(f"dehong trace verify: cannot read: {exc}", file=sys.stderr)
        return 2
    try:
        result = verify_bundle(load_bundle(text), pinned)
    except BundleError as exc:
        print(f"dehong trace verify: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"OK: {len(result.event_ids)} events are in the log {result.origin}")
    print(f"  tree size {result.tree_size}, root {result.root_hash}")
    print(f"  signed by {result.verifier_key}")
    if args.key is None:
        print("  (key not pinned: compare it with the log's published key, or pass --key)")
    for event_id in result.event_ids:
        print(f"  {event_id}")
    return 0
