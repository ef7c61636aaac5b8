"""The coffee detector's results before and after a speed-up are the same.

``python -m bench.vision_same [--against REV] [--keep DIR]`` renders 10 fixed trays
(3 default, 3 harder, 4 field; tuning seeds, ``simulators.camera.files``), runs
``edge.vision.coffee.inspect`` on each with the code of ``REV`` (``git archive`` to a
temporary folder, a child process) and with the working tree's, and compares: the
counts, the grade, the measurements, and per object the class, the screen, the
holes, the centre, the width and the length and every feature to 1e-6 (unrounded:
the beans are taken from the detector before its JSON rounds them). Prints one JSON
line; exits 1 when anything differs. Takes about a minute on one core (too long for
the default test run); run it after any change meant to be a pure speed-up.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

#: (setting, seeds): tuning seeds (< 1000), never the bench's held-out ones
TRAYS = {"default": [701, 702, 703], "harder": [711, 712, 713], "field": [721, 722, 723, 724]}
TOL = 1e-6


def render(root: Path) -> list[Path]:
    """The fixed trays as PNG files under ``root`` (skipped when already there)."""
    from simulators.camera.files import write_coffee

    files = []
    for setting, seeds in TRAYS.items():
        folder = root / setting
        todo = [s for s in seeds if not (folder / f"coffee-{s}.png").exists()]
        if todo:
            write_coffee(folder, todo, harder=setting == "harder",
                         conditions="field" if setting == "field" else "default")  # fmt: skip
        files += [folder / f"coffee-{s}.png" for s in seeds]
    return files


def dump(files: list[Path]) -> dict[str, Any]:
    """Per file, the detector's result with its beans unrounded, and its CPU time."""
    import cv2

    cv2.setNumThreads(1)
    from edge.vision import coffee
    from edge.vision.config import VisionConfig
    from edge.vision.imagefile import decode, read_file

    captured: list[Any] = []
    original = coffee._result

    def keep(beans: list[Any], *args: Any) -> Any:
        captured.append(beans)
        return original(beans, *args)

    coffee._result = keep  # type: ignore[assignment]
    cfg = VisionConfig()
    out: dict[str, Any] = {}
    cpu: list[float] = []
    for png in files:
        img = decode(read_file(png))
        captured.clear()
        t = time.process_time()
        r = coffee.inspect(img, cfg)
        cpu.append(time.process_time() - t)
        beans = [
            {"cls": b.cls, "cx": b.cx, "cy": b.cy, "width_mm": b.width_mm,
             "length_mm": b.length_mm, "screen": b.screen, "holes": b.holes,
             "features": dict(b.features)}
            for b in (captured[0] if captured else [])
        ]  # fmt: skip
        out[f"{png.parent.name}/{png.name}"] = {
            "usable": r.usable, "reason": r.reason, "grade": r.grade, "counts": r.counts,
            "measurements": r.measurements, "beans": beans,
        }  # fmt: skip
    return {"results": out, "cpu_s": cpu}


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ (floats to TOL)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where}: keys {sorted(a.keys() ^ b.keys())}"]
        return [d for k in a for d in differences(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} vs {len(b)} items"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{where}[{i}]")
        ]
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, int | float) and isinstance(b, int | float):
            if math.isclose(a, b, rel_tol=0, abs_tol=TOL) or (math.isnan(a) and math.isnan(b)):
                return []
        return [f"{where}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def _dump_in(tree: Path, files: list[Path]) -> dict[str, Any]:
    # this file's dump with the tree's code (-P: the script's folder, bench/, would
    # shadow the edge package with bench/edge.py)
    cmd = [sys.executable, "-P", __file__, "--dump", *map(str, files)]
    env = os.environ | {"PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"dump in {tree} failed: {proc.stderr.decode()[-2000:]}")
    return orjson.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.vision_same")
    p.add_argument("--against", default="main", help="the git revision to compare with")
    p.add_argument("--keep", type=Path, default=None, help="render the trays here (reused)")
    p.add_argument("--dump", nargs="+", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.dump:
        data = orjson.dumps(dump(args.dump), option=orjson.OPT_SERIALIZE_NUMPY, default=float)
        sys.stdout.write(data.decode() + "\n")
        return 0
    here = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="dehong-vision-same-") as tmp:
        root = args.keep or Path(tmp) / "trays"
        files = render(root)
        before_tree = Path(tmp) / "before"
        before_tree.mkdir()
        archive = subprocess.run(["git", "-C", str(here), "archive", args.against],
                                 capture_output=True, check=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(before_tree)], input=archive, check=True)
        before = _dump_in(before_tree, files)
        after = _dump_in(here, files)
    diffs = differences(before["results"], after["results"])
    sides = {"before": before, "after": after}
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    out = {
        "bench": "vision_same",
        "against": args.against,
        "trays": len(files),
        "objects": sum(len(r["beans"]) for r in after["results"].values()),
        "same": not diffs,
        "differences": diffs[:20],
        "n_differences": len(diffs),
        "cpu_median_s": {k: round(med(d["cpu_s"]), 3) for k, d in sides.items()},
        "cpu_s": {k: [round(x, 3) for x in d["cpu_s"]] for k, d in sides.items()},
    }
    sys.stdout.write(orjson.dumps(out).decode() + "\n")
    return 0 if not diffs else 1


if __name__ == "__main__":
    raise SystemExit(main())
