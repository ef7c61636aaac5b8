"""``dehong trace dl parse|make``: GS1 Digital Link URIs and element strings, for
printers and label software (no server, no database).

``dehong trace dl parse URI`` prints JSON: the AIs, the canonical URI (on
``DEHONG_PUBLIC_BASE_URL`` unless ``--base``) and the element string in both forms,
bracketed ``(01)...(10)...`` and unbracketed with GS (0x1D, FNC1 as a separator) after
each variable-length field that is not last (and ``fnc1``: the same with ``^``, as GS1's
tools print it). The argument may also be an element string (bracketed, or unbracketed
with GS or ``^``): it is turned into the URI the same way. A bad URI exits 2 with the
reason (English and Chinese) on stderr.

``dehong trace dl make --gtin G --lot L [--serial S] [--expiry YYMMDD]`` prints the
canonical URI (``--element-string`` prints the bracketed element string as well).

(Registered under ``dehong trace`` by cloud/cli.py: cloud.trace may not import the
resolver.)
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dl = sub.add_parser(
        "dl",
        help="GS1 Digital Link: parse a URI into element strings, make a URI",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dsub = dl.add_subparsers(dest="dl_command", required=True, metavar="COMMAND")
    p = dsub.add_parser("parse", help="a Digital Link URI (or an element string) -> JSON")
    p.add_argument("uri", metavar="URI", help="https://.../01/.../10/...; or (01)...(10)...")
    p.add_argument("--base", default=None, help="the canonical URI's host (default: settings)")
    p.set_defaults(handler=_parse)
    m = dsub.add_parser("make", help="GTIN, lot, serial, expiry -> the canonical URI")
    m.add_argument("--gtin", required=True, help="GTIN-8/12/13/14 (check digit verified)")
    m.add_argument("--lot", default=None, help="lot number, AI 10")
    m.add_argument("--serial", default=None, help="serial number, AI 21")
    m.add_argument("--expiry", default=None, metavar="YYMMDD", help="expiry date, AI 17")
    m.add_argument("--base", default=None, help="the URI's host (default: settings)")
    m.add_argument(
        "--element-string", action="store_true", help="also print the bracketed element string"
    )
    m.set_defaults(handler=_make)


def _base(given: str | None) -> str:
    if given:
        return given.rstrip("/")
    from cloud.settings import get_settings

    return get_settings().public_base_url.rstrip("/")


def _fail(command: str, exc: Exception) -> int:
    from cloud.resolver.dl import DigitalLinkError

    if isinstance(exc, DigitalLinkError):
        print(f"dehong trace dl {command}: {exc.field}: {exc.en}", file=sys.stderr)
        print(f"  {exc.zh}", file=sys.stderr)
    else:
        print(f"dehong trace dl {command}: {exc}", file=sys.stderr)
    return 2


def describe(text: str, base: str) -> dict[str, object]:
    """What ``parse`` prints for a URI or an element string."""
    from cloud.resolver import dl

    is_uri = text.lower().startswith(("http://", "https://"))
    if is_uri:
        parsed = dl.parse_uri(text)
        ais = list(parsed.ais)
        params = dict(parsed.params)
        primary = parsed.primary
    else:
        ais = dl.parse_element_string(text)
        params = {}
        primary = ais[0][0]
    out: dict[str, object] = {"input": text, "kind": "uri" if is_uri else "element_string"}
    table = dl.ai_table()
    out["ais"] = [{"ai": ai, "title": table[ai].title, "value": value} for ai, value in ais]
    if is_uri and primary == "01":
        link = dl._from_parsed(parsed)
        canonical = link.uri(base)
    elif not is_uri and "01" in dict(ais):
        link = dl.from_element_string(text)
        canonical = link.uri(base)
        ais = link.ais()  # the order a URI gives them
    else:
        link = None
        path = "".join(
            f"/{ai}/{dl.escape(v)}" for ai, v in (parsed.path_ais if is_uri else ais[:1])
        )
        rest = parsed.query_ais if is_uri else ais[1:]
        query = "&".join(f"{ai}={dl.escape(v)}" for ai, v in rest)
        canonical = base + path + (f"?{query}" if query else "")
    out["primary_key"] = primary
    if link is not None:
        out.update({"gtin": link.gtin, "lot": link.lot, "serial": link.serial})
        if link.link_type is not None:
            out["link_type"] = link.link_type
    if params:
        out["parameters"] = params
    out["canonical_uri"] = canonical
    out["element_string"] = {
        "bracketed": dl.element_string_of(ais, bracketed=True),
        "unbracketed": dl.element_string_of(ais, bracketed=False),
        "fnc1": "^" + dl.element_string_of(ais, bracketed=False, fnc1="^"),
    }
    return out


def _parse(args: argparse.Namespace) -> int:
    from cloud.resolver.dl import DigitalLinkError

    try:
        out = describe(args.uri, _base(args.base))
    except DigitalLinkError as exc:
        return _fail("parse", exc)
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def _make(args: argparse.Namespace) -> int:
    from cloud.resolver import dl

    try:
        link = dl.make(args.gtin, args.lot, args.serial, expiry=args.expiry)
    except dl.DigitalLinkError as exc:
        return _fail("make", exc)
    print(link.uri(_base(args.base)))
    if args.element_string:
        print(dl.element_string(link, bracketed=True))
    return 0
