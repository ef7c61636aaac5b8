"""``dehong grafana build|push``: the dashboards as code (cloud/commerce/screen)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_OUT = Path("grafana")


def _opts(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from cloud.commerce.screen.grafana import BuildOptions

    return BuildOptions(tiles=args.tiles, api_url=args.api_url)


def _build(args: argparse.Namespace) -> int:
    from cloud.commerce.screen.grafana import build

    out: Path = args.out
    files = build(_opts(args))
    drift = []
    for rel, text in sorted(files.items()):
        path = out / rel
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if args.check:
            if old != text:
                drift.append(rel)
            continue
        if old != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if args.check:
        if drift:
            print("generated files differ (run: dehong grafana build): " + ", ".join(drift),
                  file=sys.stderr)  # fmt: skip
            return 1
        print(f"{len(files)} generated files up to date")
    return 0


async def _push(args: argparse.Namespace) -> int:
    import asyncio

    from cloud.commerce.screen.push import key_from_env, push

    if args.token_env:
        credential: str | tuple[str, str] = key_from_env(args.token_env)
    else:
        credential = (args.user, key_from_env(args.password_env))
    key = key_from_env(args.key_env) if args.county else None
    report = await asyncio.to_thread(
        push, args.url, credential, county=args.county, county_key=key, opts=_opts(args)
    )
    print(f"pushed dashboards {', '.join(report.dashboards)}"
          + (f" to org {report.org_id}" if report.org_id else ""))  # fmt: skip
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    g = sub.add_parser("grafana", help="the big-data screen's Grafana dashboards as code")
    kinds = g.add_subparsers(dest="grafana_command", required=True, metavar="COMMAND")
    for name, helptext in (
        ("build", "write grafana/ (dashboards JSON, provisioning YAML) from the catalogue"),
        ("push", "send the dashboards to a running Grafana (grafana-client)"),
    ):
        p = kinds.add_parser(name, help=helptext)
        p.add_argument("--tiles", default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                       help="map tile URL template (grafana/README.md lists Chinese providers)")  # fmt: skip
        p.add_argument("--api-url", default="http://api:8080",
                       help="the API as Grafana reaches it (county dashboards)")  # fmt: skip
        if name == "build":
            p.add_argument("--out", type=Path, default=DEFAULT_OUT)
            p.add_argument("--check", action="store_true", help="fail if the files differ")
            p.set_defaults(handler=_build)
        else:
            p.add_argument("--url", required=True, help="Grafana's URL, e.g. http://grafana:3000")
            p.add_argument("--token-env", default="GRAFANA_TOKEN",
                           help="env var with a service-account token ('' to use a user)")  # fmt: skip
            p.add_argument("--user", default="admin")
            p.add_argument("--password-env", default="GRAFANA_PASSWORD")
            p.add_argument("--county", default=None, help="push one county's org instead")
            p.add_argument("--key-env", default="DEHONG_SCREEN_KEY",
                           help="env var with the county's display key (X-API-Key)")  # fmt: skip
            p.set_defaults(handler=_push)
