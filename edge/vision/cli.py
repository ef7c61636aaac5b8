"""``dehong vision inspect --program coffee|fruit IMAGE...``: one JSON line per image.

Coffee: each image is one tray; with several images a last line gives the lot's
totals and grade across the trays. Fruit: the images are frames of one conveyor
run in order; a last line gives the per-lot distribution. A file we refuse (bad
header, too large, truncated) prints ``{"file": ..., "error": ...}`` and the exit
code is 2. OpenCV is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    vision = sub.add_parser("vision", help="camera inspection (coffee trays, fruit conveyor)")
    cmds = vision.add_subparsers(dest="vision_command", required=True, metavar="COMMAND")
    p = cmds.add_parser("inspect", help="run a program on image files; prints JSON per image")
    p.add_argument("--program", choices=("coffee", "fruit"), required=True)
    p.add_argument(
        "--config", type=Path, default=None, help="vision config YAML (see edge/vision/config.py)"
    )
    p.add_argument("--lot", default=None, help="lot id (instead of the QR code)")
    p.add_argument("--commodity", default=None, help="fruit: mango or lemon (default from config)")
    p.add_argument("--annotate", type=Path, default=None, help="folder for annotated JPEGs")
    p.add_argument("images", nargs="+", type=Path)
    p.set_defaults(handler=_inspect)


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY).decode() + "\n")


def _inspect(args: argparse.Namespace) -> int:
    import cv2

    from edge.vision import coffee
    from edge.vision.config import VisionConfigError, load_config
    from edge.vision.fruit import FruitRun
    from edge.vision.grading import LotTotals
    from edge.vision.imagefile import ImageError, decode, read_file

    try:
        cfg = load_config(args.config)
        if args.commodity:
            cfg = cfg.model_validate(
                cfg.model_dump() | {"fruit": cfg.fruit.model_dump() | {"commodity": args.commodity}}
            )
    except (VisionConfigError, ValueError) as exc:
        print(f"dehong vision inspect: {exc}", file=sys.stderr)
        return 2
    status = 0
    run = FruitRun(cfg, lot=args.lot) if args.program == "fruit" else None
    totals: LotTotals | None = None
    for path in args.images:
        try:
            img = decode(read_file(path))
        except ImageError as exc:
            _emit({"file": str(path), "error": str(exc)})
            status = 2
            continue
        result = coffee.inspect(img, cfg, lot=args.lot) if run is None else run.frame(img)
        _emit({"file": str(path), **result.as_json()})
        if args.annotate is not None and result.annotated is not None:
            args.annotate.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(args.annotate / f"{path.stem}.jpg"), result.annotated)
        if run is None and result.usable:
            if totals is None:
                totals = LotTotals(result.lot or "")
            totals.add(result.counts.get("beans", 0), result.counts)
    if run is not None:
        _emit({"lot_summary": True, **run.summary().as_json()})
    elif totals is not None and totals.trays > 1:
        g = totals.graded(cfg.coffee.grading)
        _emit({
            "lot_summary": True, "lot": totals.lot, "trays": totals.trays, "beans": totals.beans,
            "counts": totals.counts, "grade": g.grade, "full_defects": g.full_defects,
        })  # fmt: skip
    return status
