"""``dehong ble decode``: a technician decodes one advertisement payload to JSON.

::

    dehong ble decode --company-id 0x0499 0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F
    dehong ble decode --service-uuid 0xFEAA 20000BB81A000000006400000E10

``--company-id`` takes the manufacturer data after the 2-byte company id;
``--service-uuid`` takes the service data. Exit 0 with the JSON on stdout;
exit 2 with the reason on stderr for an unknown, short or malformed payload.
"""

from __future__ import annotations

import argparse
import sys

import orjson


def _int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (use 0x0499 or 1177)") from None
    if not 0 <= value <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"{text} is not a 16-bit id (0x0000-0xFFFF)")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ble = subparsers.add_parser("ble", help="BLE tools for technicians")
    sub = ble.add_subparsers(dest="ble_command", required=True, metavar="ACTION")
    decode = sub.add_parser("decode", help="decode one advertisement payload to JSON")
    which = decode.add_mutually_exclusive_group(required=True)
    which.add_argument("--company-id", type=_int, help="manufacturer data of this company id")
    which.add_argument("--service-uuid", type=_int, help="service data of this 16-bit UUID")
    decode.add_argument("hex", help="the payload in hex (spaces and colons allowed)")
    decode.set_defaults(handler=_decode)


def _decode(args: argparse.Namespace) -> int:
    from edge.drivers.ble_decode import DecodeError, decode_manufacturer, decode_service

    text = args.hex.replace(" ", "").replace(":", "").removeprefix("0x").removeprefix("0X")
    try:
        data = bytes.fromhex(text)
    except ValueError:
        print(f"dehong ble decode: {args.hex!r} is not hex bytes", file=sys.stderr)
        return 2
    try:
        if args.company_id is not None:
            decoded = decode_manufacturer(args.company_id, data)
        else:
            decoded = decode_service(args.service_uuid, data)
    except DecodeError as exc:
        print(f"dehong ble decode: {exc}", file=sys.stderr)
        return 2
    print(orjson.dumps(decoded.as_dict()).decode())
    return 0
