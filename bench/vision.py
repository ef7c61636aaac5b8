"""``dehong bench vision``: camera inspection accuracy on held-out synthetic scenes,
and speed and peak RSS on one core. Prints one JSON line.

**Held-out seeds.** The detector's thresholds are tuned on simulator seeds below
1000 only, under any setting and conditions (coffee: 1-900 on the default and harder
settings, each range first run unseen as a check against over-fitting; fruit: 1-20;
``tests/vision`` uses 3-5; issue 17's field conditions: 1-999). The bench's seeds
are never used for tuning. They sit at ``--seed-base`` B (5000 unless given):
coffee trays from B (default setting), B+1000 (``HARDER``) and B+4000 (the **field**
conditions: each condition drawn from the seed, ``simulators/camera/conditions.py``),
the per-condition breakdown from B+5000 (100 seeds per condition, in the order of
``LIMITS``), fruit runs from B+2000 (default) and B+3000 (``HARDER_FRUIT``). With
B = 5000 the default, harder and fruit seeds are the ones drawn on 2026-11-29 after
that tuning pass. To draw fresh held-out seeds after a retune, pass a base no seed of
which has been seen, e.g. ``--seed-base 20000`` (and record it). (Seeds 1000-4999
were this benchmark's earlier held-out draw: never tuned on, retired once seen.)
Every figure is on **synthetic** images from ``dehong sim camera``.

**Refusals.** A tray the quality gate refuses (``usable`` false) counts as failed for
every accuracy figure: its bean count is not exact, its grade not equal, each of its
truth objects of a defect class a false negative, each of its beans a width error of
100 %. ``refusal_rate`` reports them (goal on field: at most 2 %).

**Time beside a baseline.** The speed child also times, on the same files, a plain
OpenCV pass (decode, grey, Gaussian blur, Otsu threshold, external contours), so a
tray's time can be read against the machine's speed (machines here differ up to 3x).

Scenes are rendered to PNG files first (with their truth JSON); accuracy is
measured on those files in this process. Speed runs in a fresh child process per
program (``python -m bench.vision speed coffee|fruit DIR``), pinned to one CPU
with ``taskset -c 0`` when it exists and ``cv2.setNumThreads(1)``: each file is
decoded (not timed), then the program runs on it (timed); the child's peak RSS
(``VmHWM``) is the detector's own, with one image in memory at a time.

Accuracy figures:

- coffee: bean count exact (beans, foreign matter not counted) per tray; objects
  (beans and foreign matter) exact; per defect class precision and recall, with
  detected objects matched to the truth by centre (nearest first, < 20 px), an
  unmatched detection a false positive of its class and an unmatched truth a
  false negative; median |width error| of matched beans; grade (the shipped
  SCA-modelled table on the truth's counts vs on the detected counts) equal;
- fruit: fruit counted exact per run (each fruit once across frames); maturity
  stage distribution equal per run, and stage right per fruit (tracks paired with
  the truth's fruit in order, runs counted exactly); median |length error|, pairing
  the tracked fruit's median lengths with the truth's in sorted order (runs counted
  exactly).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

SEED_BASE = 5000
#: offsets from the seed base (see the module's docstring)
COFFEE_OFFSETS = {"default": 0, "harder": 1000, "field": 4000}
FRUIT_OFFSETS = {"default": 2000, "harder": 3000}
LIMITS_OFFSET = 5000
COFFEE_SEEDS = {k: SEED_BASE + v for k, v in COFFEE_OFFSETS.items()}
FRUIT_SEEDS = {k: SEED_BASE + v for k, v in FRUIT_OFFSETS.items()}
SETTINGS = ("default", "harder", "field")
MATCH_PX = 20.0
GOALS = {
    "count_exact_rate": 0.98,
    "defect_precision_recall": 0.90,
    "size_error_median": 0.03,
    "grade_match_rate": 0.95,
    "fruit_fps": 15.0,
    "tray_s": 1.0,
}
#: issue 17's goals on the field setting
FIELD_GOALS = {
    "count_exact_rate": 0.95,
    "defect_precision_recall": 0.90,
    "size_error_median": 0.03,
    "grade_match_rate": 0.95,
    "refusal_rate": 0.02,
    "tray_s": 1.0,
}


def _match(found: list[dict[str, Any]], truth: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(found index, truth index) pairs, nearest first, each at most once."""
    pairs = sorted(
        ((f["cx"] - t["cx"]) ** 2 + (f["cy"] - t["cy"]) ** 2, i, j)
        for i, f in enumerate(found)
        for j, t in enumerate(truth)
        if abs(f["cx"] - t["cx"]) < MATCH_PX and abs(f["cy"] - t["cy"]) < MATCH_PX
    )
    used_f: set[int] = set()
    used_t: set[int] = set()
    out = []
    for d2, i, j in pairs:
        if d2 < MATCH_PX**2 and i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
            out.append((i, j))
    return out


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def coffee_accuracy(folder: Path) -> dict[str, Any]:
    from edge.vision import coffee
    from edge.vision.config import VisionConfig
    from edge.vision.grading import grade
    from edge.vision.imagefile import decode, read_file

    cfg = VisionConfig()
    classes = coffee.DEFECTS
    tp = dict.fromkeys(classes, 0)
    fp = dict.fromkeys(classes, 0)
    fn = dict.fromkeys(classes, 0)
    width_err: list[float] = []
    trays = bean_exact = object_exact = grade_equal = unusable = lot_read = 0
    reasons: dict[str, int] = {}
    inspect_s: list[float] = []
    misses: list[dict[str, Any]] = []
    for png in sorted(folder.glob("coffee-*.png")):
        truth = orjson.loads(png.with_suffix(".json").read_bytes())
        img = decode(read_file(png))
        t_in = time.perf_counter()
        r = coffee.inspect(img, cfg)
        inspect_s.append(time.perf_counter() - t_in)
        trays += 1
        lot_read += r.lot == truth["lot"]
        if not r.usable:  # failed for every figure: every truth object missed
            unusable += 1
            reasons[r.reason or ""] = reasons.get(r.reason or "", 0) + 1
            misses.append({"seed": truth["seed"], "unusable": r.reason})
            for t in truth["objects"]:
                if t["cls"] in fn:
                    fn[t["cls"]] += 1
                if t["cls"] != "foreign_matter":
                    width_err.append(1.0)
            continue
        found, objs = r.objects, truth["objects"]
        bean_exact += r.counts["beans"] == truth["beans"]
        object_exact += len(found) == len(objs)
        truth_grade = grade(
            {c: truth["counts"].get(c, 0) for c in classes}, truth["beans"], cfg.coffee.grading
        ).grade
        grade_equal += r.grade == truth_grade
        if r.counts["beans"] != truth["beans"] or r.grade != truth_grade:
            misses.append({
                "seed": truth["seed"], "beans": r.counts["beans"], "truth_beans": truth["beans"],
                "grade": r.grade, "truth_grade": truth_grade,
            })  # fmt: skip
        pairs = _match(found, objs)
        fi = {i for i, _ in pairs}
        tj = {j for _, j in pairs}
        for i, j in pairs:
            fc, tc = found[i]["cls"], objs[j]["cls"]
            if fc == tc and fc in tp:
                tp[fc] += 1
            else:
                if fc in fp:
                    fp[fc] += 1
                if tc in fn:
                    fn[tc] += 1
            if "foreign_matter" not in (fc, tc):
                width_err.append(abs(found[i]["width_mm"] / objs[j]["width_mm"] - 1))
        for i, f in enumerate(found):
            if i not in fi and f["cls"] in fp:
                fp[f["cls"]] += 1
        for j, t in enumerate(objs):
            if j not in tj and t["cls"] in fn:
                fn[t["cls"]] += 1
    import numpy as np

    return {
        "trays": trays,
        "unusable": unusable,
        "refusal_rate": _rate(unusable, trays),
        "refusal_reasons": reasons,
        "bean_count_exact_rate": _rate(bean_exact, trays),
        "object_count_exact_rate": _rate(object_exact, trays),
        "grade_match_rate": _rate(grade_equal, trays),
        "lot_read_rate": _rate(lot_read, trays),
        "width_error_median": round(float(np.median(width_err)), 5) if width_err else None,
        # in this process, not pinned: for reading one setting against another only
        "inspect_median_s_unpinned": round(float(np.median(inspect_s)), 3) if inspect_s else None,
        "defects": {
            c: {
                "precision": _rate(tp[c], tp[c] + fp[c]),
                "recall": _rate(tp[c], tp[c] + fn[c]),
                "truth": tp[c] + fn[c],
            }
            for c in classes
        },
        "misses": misses[:20],
    }


def fruit_accuracy(folder: Path) -> dict[str, Any]:
    import numpy as np

    from edge.vision.config import VisionConfig
    from edge.vision.fruit import FruitRun
    from edge.vision.imagefile import decode, read_file

    runs = count_exact = stages_equal = lot_read = 0
    fruit_paired = stage_hit = 0
    stage_misses: list[dict[str, Any]] = []
    length_err: list[float] = []
    misses: list[dict[str, Any]] = []
    for run_dir in sorted(p for p in folder.iterdir() if p.name.startswith("fruit-")):
        truth = orjson.loads((run_dir / "truth.json").read_bytes())
        cfg = VisionConfig()
        cfg.fruit.commodity = truth["commodity"]
        run = FruitRun(cfg)
        for frame in sorted(run_dir.glob("frame-*.png")):
            run.frame(decode(read_file(frame)))
        summary = run.summary()
        runs += 1
        lot_read += summary.lot == truth["lot"]
        fruits = truth["fruits"]
        exact = summary.counts["fruit"] == len(fruits)
        count_exact += exact
        want: dict[str, int] = {}
        for f in fruits:
            want[f"stage_{f['stage']}"] = want.get(f"stage_{f['stage']}", 0) + 1
        got = {k: v for k, v in summary.counts.items() if k.startswith("stage_")}
        stages_equal += got == want
        if not exact or got != want:
            misses.append({
                "seed": truth["seed"], "fruit": summary.counts["fruit"],
                "truth_fruit": len(fruits), "stages": got, "truth_stages": want,
            })  # fmt: skip
        if exact:
            tracks = run.tracker.finished()
            lengths = [float(np.median([o.length_mm for o in track])) for track in tracks]
            for got_mm, t in zip(
                sorted(lengths), sorted(f["length_mm"] for f in fruits), strict=True
            ):
                length_err.append(abs(got_mm / t - 1))
            hits, total, missed = _stages_per_fruit(tracks, lengths, fruits, cfg, truth["seed"])
            fruit_paired += total
            stage_hit += hits
            stage_misses += missed
    return {
        "runs": runs,
        "fruit_count_exact_rate": _rate(count_exact, runs),
        "stage_distribution_equal_rate": _rate(stages_equal, runs),
        "fruit_stage_exact_rate": _rate(stage_hit, fruit_paired),
        "fruit_stage_paired": fruit_paired,
        # misses of fruit painted inside their band and at least half a unit from its edge
        "stage_misses_clear": sum(m["in_band"] and m["from_edge"] >= 0.5 for m in stage_misses),
        "stage_misses": stage_misses[:20],
        "lot_read_rate": _rate(lot_read, runs),
        "length_error_median": round(float(np.median(length_err)), 5) if length_err else None,
        "misses": misses[:20],
    }


def _stages_per_fruit(
    tracks: list[list[Any]],
    lengths: list[float],
    fruits: list[dict[str, Any]],
    cfg: Any,
    seed: int,
) -> tuple[int, int, list[dict[str, Any]]]:
    """(stages right, fruit paired, misses) for one run counted exactly. Tracks and
    truth fruit are paired in order (the belt keeps it: fruit enter and leave one
    after another); a run whose pairs disagree on length (``lengths``: each track's
    median) by over 5 % is not paired.
    A miss records how far the painted hue lies from the nearest band edge and
    whether it lies in its own stage's band at all (the harder setting paints up to
    1 H unit into the next band: that fruit's colour is the next stage's)."""
    import numpy as np

    from edge.vision.fruit import stage_of

    c = cfg.fruit.current()
    if any(abs(g / f["length_mm"] - 1) > 0.05 for g, f in zip(lengths, fruits, strict=True)):
        return 0, 0, []
    edges = sorted({s.hue_min for s in c.stages} | {s.hue_max for s in c.stages})
    hits, misses = 0, []
    for track, f in zip(tracks, fruits, strict=True):
        hue = float(np.median([o.hue for o in track]))
        got = stage_of(hue, c)
        if got == f["stage"]:
            hits += 1
        else:
            band = next(s for s in c.stages if s.name == f["stage"])
            misses.append({
                "seed": seed, "stage": got, "truth_stage": f["stage"], "hue": round(hue, 2),
                "truth_hue": f["hue"], "from_edge": round(min(abs(f["hue"] - e) for e in edges), 2),
                "in_band": band.hue_min <= f["hue"] < band.hue_max,
            })  # fmt: skip
    return hits, len(fruits), misses


# -------------------------------------------------------------------- speed


def _speed_child(program: str, folder: Path) -> dict[str, Any]:
    """Runs in the pinned child: per file, decode (untimed), run the program (timed)."""
    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    from edge.vision import coffee
    from edge.vision.config import VisionConfig
    from edge.vision.fruit import FruitRun
    from edge.vision.imagefile import decode, read_file

    cfg = VisionConfig()
    times: list[float] = []
    base: list[float] = []
    decode_s: list[float] = []
    sizes: set[tuple[int, int]] = set()
    if program == "coffee":
        files = sorted(folder.glob("coffee-*.png"))
        coffee.inspect(decode(read_file(files[0])), cfg)  # warm-up: imports, caches
        _baseline(files[0])
        for png in files:
            base.append(_baseline(png))
            t = time.perf_counter()
            img = decode(read_file(png))
            decode_s.append(time.perf_counter() - t)
            sizes.add((img.shape[1], img.shape[0]))
            t = time.perf_counter()
            coffee.inspect(img, cfg)
            times.append(time.perf_counter() - t)
    else:
        run_dir = sorted(p for p in folder.iterdir() if p.name.startswith("fruit-"))[0]
        truth = orjson.loads((run_dir / "truth.json").read_bytes())
        cfg.fruit.commodity = truth["commodity"]
        run = FruitRun(cfg)
        for frame in sorted(run_dir.glob("frame-*.png")):
            img = decode(read_file(frame))
            t = time.perf_counter()
            run.frame(img)
            times.append(time.perf_counter() - t)
    arr = np.array(times)
    extra: dict[str, Any] = {}
    if base:
        b = float(np.median(base))
        d = float(np.median(decode_s))
        extra = {
            "baseline_opencv_median_s": round(b, 4),
            "decode_median_s": round(d, 4),
            # like with like: the program plus its decode, over the plain pass
            "program_plus_decode_over_baseline": round((float(np.median(arr)) + d) / b, 2),
            "sizes": sorted({f"{w}x{h}" for w, h in sizes}),
        }
    return extra | {
        "program": program,
        "n": len(times),
        "median_s": round(float(np.median(arr)), 4),
        "p90_s": round(float(np.percentile(arr, 90)), 4),
        "max_s": round(float(arr.max()), 4),
        "fps": round(len(arr) / float(arr.sum()), 2),
        "peak_rss_mb": _peak_rss_mb(),
        "cpus": sorted(os.sched_getaffinity(0)),
        "cv2_threads": cv2.getNumThreads(),
    }


def _baseline(png: Path) -> float:
    """The same-run baseline: a plain OpenCV pass over the same file (decode, grey,
    5x5 Gaussian blur, Otsu threshold, external contours); seconds."""
    import cv2
    import numpy as np

    t = time.perf_counter()
    img = cv2.imdecode(np.frombuffer(png.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    gray = cv2.GaussianBlur(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), (5, 5), 0)
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return time.perf_counter() - t


def _peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: ru_maxrss survives exec, so a
    child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _speed(program: str, folder: Path) -> dict[str, Any]:
    """The speed child, pinned to CPU 0 with taskset when it exists."""
    cmd = [sys.executable, "-m", "bench.vision", "speed", program, str(folder)]
    taskset = shutil.which("taskset")
    if taskset:
        cmd = [taskset, "-c", "0", *cmd]
    env = os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"speed child for {program} failed: {proc.stderr[-2000:]}")
    out: dict[str, Any] = orjson.loads(proc.stdout.strip().splitlines()[-1])
    out["pinned"] = bool(taskset)
    return out


# ---------------------------------------------------------------------- run


def run(
    short: bool = False,
    keep: Path | None = None,
    seed_base: int = SEED_BASE,
    only: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The benchmark. ``only``: a subset of default, harder, field, breakdown, fruit,
    speed (all when empty)."""
    from simulators.camera.conditions import LIMITS
    from simulators.camera.files import write_coffee, write_fruit

    trays, field_trays, limit_trays, fruit_runs, speed_trays = (
        (6, 20, 2, 2, 4) if short else (100, 100, 5, 10, 10)
    )
    parts = set(only) or {*SETTINGS, "breakdown", "fruit", "speed"}
    unknown = parts - {*SETTINGS, "breakdown", "fruit", "speed"}
    if unknown:
        raise ValueError(f"only: unknown part(s) {sorted(unknown)}")
    t0 = time.monotonic()
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="dehong-bench-vision-"))
    b = seed_base
    result: dict[str, Any] = {
        "bench": "vision",
        "short": short,
        "synthetic": True,
        "seed_base": b,
        "held_out": f"seeds never tuned on (tuning: seeds < 1000): coffee {b}+ default, "
        f"{b + 1000}+ harder, {b + 4000}+ field, {b + 5000}+ per-condition limits "
        f"(100 apart); fruit {b + 2000}+ default, {b + 3000}+ harder",
        "trays": {
            "default": trays,
            "harder": trays,
            "field": field_trays,
            "per_condition": limit_trays,
        },
    }
    if short:
        result["note"] = (
            f"--short: {field_trays} field trays (the full run: 100), {limit_trays} per condition"
        )
    try:
        accuracy: dict[str, Any] = {}
        for setting in SETTINGS:
            if setting not in parts and not (setting == "default" and "speed" in parts):
                continue
            n = field_trays if setting == "field" else trays
            if setting not in parts:  # written for the speed child only
                n = speed_trays
            base = b + COFFEE_OFFSETS[setting]
            folder = root / f"coffee-{setting}"
            write_coffee(
                folder, list(range(base, base + n)), harder=setting == "harder",
                conditions="field" if setting == "field" else "default",
            )  # fmt: skip
            if setting in parts:
                accuracy[f"coffee_{setting}"] = coffee_accuracy(folder)
        if "breakdown" in parts:
            breakdown: dict[str, Any] = {}
            for i, name in enumerate(LIMITS):
                base = b + LIMITS_OFFSET + 100 * i
                folder = root / f"coffee-limit-{name}"
                seeds = list(range(base, base + limit_trays))
                write_coffee(folder, seeds, conditions=f"limit:{name}")
                breakdown[name] = _compact(coffee_accuracy(folder)) | {"seeds": seeds}
            accuracy["coffee_per_condition"] = breakdown
        if "fruit" in parts:
            for setting, off in FRUIT_OFFSETS.items():
                folder = root / f"fruit-{setting}"
                seeds = list(range(b + off, b + off + fruit_runs))
                for i, seed in enumerate(seeds):  # mango and lemon in turn
                    commodity = "mango" if i % 2 == 0 else "lemon"
                    write_fruit(folder, [seed], commodity=commodity, harder=setting == "harder")
                accuracy[f"fruit_{setting}"] = fruit_accuracy(folder)
        result["accuracy"] = accuracy
        if "speed" in parts:
            speed: dict[str, Any] = {}
            for setting in SETTINGS:
                src = root / f"coffee-{setting}"
                if not src.exists():
                    continue
                speed_dir = root / f"coffee-speed-{setting}"
                speed_dir.mkdir()
                for png in sorted(src.glob("coffee-*.png"))[:speed_trays]:
                    shutil.copy(png, speed_dir / png.name)
                key = (
                    "coffee_tray_2000x1500_300_objects"
                    if setting == "default"
                    else f"coffee_tray_{setting}"
                )
                speed[key] = _speed("coffee", speed_dir)
            if "fruit" in parts:
                speed["fruit_1280x720"] = _speed("fruit", root / "fruit-default")
            result["speed"] = speed
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    result["goals"] = _goals(result)
    # a part-run with no goal among its parts has met nothing
    result["goal_met"] = bool(result["goals"]) and all(result["goals"].values())
    result["field_goals"] = {k[len("field_") :]: v for k, v in result["goals"].items()
                             if k.startswith("field_")}  # fmt: skip
    result["elapsed_s"] = round(time.monotonic() - t0, 1)
    return result


def _compact(a: dict[str, Any]) -> dict[str, Any]:
    """A per-condition line: the figures, each class's P/R, the worst of them."""
    prs = [v for d in a["defects"].values() for v in (d["precision"], d["recall"]) if v is not None]
    return {
        "trays": a["trays"],
        "bean_count_exact_rate": a["bean_count_exact_rate"],
        "grade_match_rate": a["grade_match_rate"],
        "width_error_median": a["width_error_median"],
        "refusal_rate": a["refusal_rate"],
        "refusal_reasons": a["refusal_reasons"],
        "worst_defect_pr": min(prs) if prs else None,
        "defects": {c: [d["precision"], d["recall"], d["truth"]] for c, d in a["defects"].items()},
        "inspect_median_s_unpinned": a.get("inspect_median_s_unpinned"),
        "misses": a["misses"][:5],
    }


def _coffee_goals(a: dict[str, Any], g: dict[str, float]) -> dict[str, bool]:
    return {
        "count": (a["bean_count_exact_rate"] or 0) >= g["count_exact_rate"],
        "defects": all(
            (d["precision"] or 0) >= g["defect_precision_recall"]
            and (d["recall"] or 0) >= g["defect_precision_recall"]
            for d in a["defects"].values()
        ),
        "size": (a["width_error_median"] or 1) < g["size_error_median"],
        "grade": (a["grade_match_rate"] or 0) >= g["grade_match_rate"],
    }


def _goals(r: dict[str, Any]) -> dict[str, bool]:
    acc, speed = r["accuracy"], r.get("speed", {})
    g = GOALS
    out: dict[str, bool] = {}
    for setting in ("default", "harder"):
        if (a := acc.get(f"coffee_{setting}")) is not None:
            for k, v in _coffee_goals(a, g).items():
                out[f"coffee_{setting}_{k}"] = v
        if (f := acc.get(f"fruit_{setting}")) is not None:
            out[f"fruit_{setting}_count"] = (f["fruit_count_exact_rate"] or 0) >= g[
                "count_exact_rate"
            ]
            out[f"fruit_{setting}_size"] = (f["length_error_median"] or 1) < g["size_error_median"]
    if (a := acc.get("coffee_field")) is not None:
        for k, v in _coffee_goals(a, FIELD_GOALS).items():
            out[f"field_{k}"] = v
        out["field_refusals"] = (a["refusal_rate"] or 0) <= FIELD_GOALS["refusal_rate"]
    if "fruit_1280x720" in speed:
        out["fruit_fps"] = speed["fruit_1280x720"]["fps"] >= g["fruit_fps"]
    if "coffee_tray_2000x1500_300_objects" in speed:
        out["tray_s"] = speed["coffee_tray_2000x1500_300_objects"]["median_s"] < g["tray_s"]
    if "coffee_tray_field" in speed:
        out["field_tray_s"] = speed["coffee_tray_field"]["median_s"] < FIELD_GOALS["tray_s"]
    return out


# ----------------------------------------------------------------- pictures


WIDTH_PX = 900
#: short labels of the classes on the pictures
_SHORT = {
    "normal": "N", "full_black": "FB", "partial_black": "PB", "sour": "S", "broken": "B",
    "insect_damage": "I", "foreign_matter": "FM", "missed": "miss",
}  # fmt: skip


def annotate(seeds: list[int], conditions: str, out: Path, prefix: str) -> list[Path]:
    """Render each tray, inspect it and write what the program saw (its annotated
    image: each object outlined in its class's colour), with each truth object it
    missed or misclassed ringed in white and labelled ``truth>found`` (N normal, FB
    full black, PB partial black, S sour, B broken, I insect, FM foreign matter), and
    a header; a JPEG 900 px wide per tray."""
    import cv2
    import numpy as np

    from edge.vision import coffee
    from edge.vision.config import VisionConfig
    from edge.vision.grading import grade
    from simulators.camera.coffee import make_coffee
    from simulators.camera.conditions import resolve

    cfg = VisionConfig()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for seed in seeds:
        c = resolve(conditions, seed)
        scene = make_coffee(seed, conditions=c)
        truth = scene.truth
        r = coffee.inspect(scene.image, cfg)
        img = r.annotated if r.annotated is not None else scene.image.copy()
        scale = WIDTH_PX / img.shape[1]
        thick = max(1, round(1 / scale))
        pairs = {j: i for i, j in _match(r.objects, truth["objects"])}
        wrong = 0
        for j, t in enumerate(truth["objects"]):
            got = r.objects[pairs[j]]["cls"] if j in pairs else "missed"
            if got == t["cls"]:
                continue
            wrong += 1
            centre = (round(t["cx"]), round(t["cy"]))
            rad = round(t["length_mm"] * truth["px_per_mm"] * 0.65)
            cv2.circle(img, centre, rad, (255, 255, 255), thick)
            label = f"{_SHORT[t['cls']]}>{_SHORT.get(got, got)}"
            cv2.putText(img, label, (centre[0] - rad, centre[1] - rad - 2),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4 / scale, (255, 255, 255), thick)  # fmt: skip
        truth_grade = grade(
            {k: truth["counts"].get(k, 0) for k in coffee.DEFECTS}, truth["beans"],
            cfg.coffee.grading,
        ).grade  # fmt: skip
        cond = truth.get("conditions", {})
        head = (
            f"seed {seed} {conditions}: elev {cond.get('light_elevation_deg', 90):.0f} "
            f"az {cond.get('light_azimuth_deg', 0):.0f} diffuse {cond.get('diffuse', 1):.2f} "
            f"wb {cond.get('wb_gain', (1, 1, 1))} {truth['px_per_mm']:.1f} px/mm | "
            + (
                f"beans {r.counts.get('beans')} (truth {truth['beans']}), grade {r.grade} "
                f"(truth {truth_grade}), {wrong} wrong"
                if r.usable
                else f"REFUSED: {r.reason}"
            )
        )
        small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        band = np.zeros((40, small.shape[1], 3), np.uint8)
        cut = head.index("|")
        for k, text in enumerate((head[:cut], head[cut + 2 :])):
            cv2.putText(band, text, (6, 15 + 17 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                        (255, 255, 255), 1)  # fmt: skip
        path = out / f"{prefix}-{seed}.jpg"
        cv2.imwrite(str(path), np.vstack([band, small]), [cv2.IMWRITE_JPEG_QUALITY, 70])
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.vision")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed", help="(internal) the pinned speed child")
    s.add_argument("program", choices=("coffee", "fruit"))
    s.add_argument("folder", type=Path)
    r = sub.add_parser("run", help="the whole benchmark (as `dehong bench vision`)")
    add_run_arguments(r)
    r.add_argument("--keep", type=Path, default=None, help="keep the rendered scenes here")
    a = sub.add_parser("annotate", help="annotated JPEGs of a few trays (for the docs)")
    a.add_argument("--conditions", default="field", help="default, field or limit:NAME")
    a.add_argument("--seeds", type=int, nargs="+", required=True)
    a.add_argument("--out", type=Path, default=Path("docs"))
    a.add_argument("--prefix", default="vision-field")
    args = p.parse_args(argv)
    if args.cmd == "annotate":
        for path in annotate(args.seeds, args.conditions, args.out, args.prefix):
            print(path)
        return 0
    out = (
        _speed_child(args.program, args.folder)
        if args.cmd == "speed"
        else run(args.short, args.keep, args.seed_base, tuple(args.only))
    )
    sys.stdout.write(orjson.dumps(out).decode() + "\n")
    return 0


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The run's options (shared with ``dehong bench vision``)."""
    p.add_argument("--short", action="store_true", help="fewer scenes (field: 20 trays)")
    p.add_argument(
        "--seed-base",
        type=int,
        default=SEED_BASE,
        help="held-out seeds from here (default 5000; draw fresh ones after a retune)",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        choices=(*SETTINGS, "breakdown", "fruit", "speed"),
        help="run only these parts (repeatable; default all)",
    )


if __name__ == "__main__":
    raise SystemExit(main())
