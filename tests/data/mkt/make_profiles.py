"""Write the MKT test profiles (CSV) and their expected figures (expected.json).

The expected figures are computed here, independently of cloud.timeseries, with
Python's ``decimal`` at 50 digits (``Decimal.exp``/``Decimal.ln``) from the definition:

- each reading i holds w_i = min(t_{i+1} - t_i, 2 * poll) seconds; the last one
  min(poll, 2 * poll) = poll (the file's interval ends one poll after the last reading);
- MKT = (ΔH/R) / -ln( Σ w_i exp(-(ΔH/R) / (T_i + 273.15)) / Σ w_i ) - 273.15,
  ΔH/R = 10 000 K;
- time out of range = Σ w_i over readings outside [low, high].

Two profiles also have a closed form, checked here: a constant temperature T has
MKT = T; two equal halves at a and b have MKT = 10000 / -ln((e^(-10000/A) +
e^(-10000/B)) / 2) - 273.15 (A, B in kelvin).

Run ``python tests/data/mkt/make_profiles.py`` to regenerate; the test checks the
files are what this script writes.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, getcontext
from pathlib import Path

getcontext().prec = 50
HERE = Path(__file__).parent
K = Decimal("273.15")
DHR = Decimal(10000)
T0 = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
BJ = timezone(timedelta(hours=8))


def expected(rows: list[tuple[int, float]], poll_s: int, low: float | None, high: float | None):
    rows = sorted(rows)
    cap = 2 * poll_s * 1000
    num = Decimal(0)
    den = Decimal(0)
    out = Decimal(0)
    weighed = []
    for i, (t, v) in enumerate(rows):
        nxt = rows[i + 1][0] if i + 1 < len(rows) else t + poll_s * 1000
        w = Decimal(min(nxt - t, cap)) / 1000
        d = Decimal(repr(v))
        num += w * (-DHR / (d + K)).exp()
        den += w
        if w > 0:
            weighed.append(v)
        if (low is not None and v < low) or (high is not None and v > high):
            out += w
    mkt = DHR / -(num / den).ln() - K
    return {
        "mkt_c": float(round(mkt, 6)),
        "min_c": min(weighed),
        "max_c": max(weighed),
        "time_out_of_range_s": float(out),
        "covered_s": float(den),
        "n": len(rows),
    }


def iso(ms: int, tz=UTC) -> str:
    return datetime.fromtimestamp(ms / 1000, tz).isoformat()


def write(name: str, lines: list[tuple[str, float | str]]) -> None:
    text = "time,temp_c\n" + "".join(f"{t},{v}\n" for t, v in lines)
    (HERE / f"{name}.csv").write_text(text, encoding="utf-8")


def main() -> dict:
    rng = random.Random(13)
    t0 = int(T0.timestamp() * 1000)
    profiles = {}

    # 1. constant 5 °C, 1 min poll, 2 h: MKT = 5 exactly
    rows = [(t0 + i * 60_000, 5.0) for i in range(120)]
    write("constant_5c", [(iso(t), v) for t, v in rows])
    profiles["constant_5c"] = {"poll_s": 60, "low": 2.0, "high": 8.0, **expected(rows, 60, 2, 8)}
    assert abs(profiles["constant_5c"]["mkt_c"] - 5.0) < 1e-9

    # 2. two halves, 2 °C then 8 °C: the closed form
    rows = [(t0 + i * 60_000, 2.0 if i < 60 else 8.0) for i in range(120)]
    write("two_levels", [(str(t), v) for t, v in rows])  # epoch ms
    a, b = 2 + 273.15, 8 + 273.15
    closed = 10000 / -math.log((math.exp(-10000 / a) + math.exp(-10000 / b)) / 2) - 273.15
    profiles["two_levels"] = {"poll_s": 60, "low": 2.0, "high": 8.0, **expected(rows, 60, 2, 8)}
    assert abs(profiles["two_levels"]["mkt_c"] - closed) < 1e-6

    # 3. mango room (10-12 °C) with a compressor failure, a 2 h gap (weighs 2 polls),
    #    Beijing-time ISO stamps
    rows = []
    t = t0
    for i in range(300):
        v = 11.0 + rng.uniform(-0.6, 0.6)
        if 120 <= i < 170:
            v = 11.0 + (i - 120) * 0.15
        rows.append((t, round(v, 2)))
        t += 60_000 if i != 200 else 7_200_000
    write("mango_failure_gap", [(iso(t, BJ), v) for t, v in rows])
    profiles["mango_failure_gap"] = {
        "poll_s": 60,
        "low": 10.0,
        "high": 12.0,
        **expected(rows, 60, 10, 12),
    }

    # 4. lychee truck (0-2 °C), 10 s poll with jitter and door spikes, rows shuffled,
    #    epoch seconds with a fraction
    rows = []
    for i in range(1500):
        t = t0 + i * 10_000 + rng.randint(-300, 300)
        v = 1.0 + rng.gauss(0, 0.3)
        if i % 400 in range(10, 30):
            v = 5.5 + rng.uniform(-1, 1)
        rows.append((t, round(v, 3)))
    shuffled = rows[:]
    rng.shuffle(shuffled)
    write("lychee_truck_shuffled", [(f"{t / 1000:.3f}", v) for t, v in shuffled])
    profiles["lychee_truck_shuffled"] = {
        "poll_s": 10,
        "low": 0.0,
        "high": 2.0,
        **expected(rows, 10, 0, 2),
    }

    # 5. green coffee store (15-20 °C), a day at 5 min, a slow sine with a warm afternoon
    rows = [
        (t0 + i * 300_000, round(17.5 + 3.2 * math.sin(2 * math.pi * i / 288), 2))
        for i in range(288)
    ]
    write("coffee_day", [(iso(t), v) for t, v in rows])
    profiles["coffee_day"] = {"poll_s": 300, "low": 15.0, "high": 20.0,
                              **expected(rows, 300, 15, 20)}  # fmt: skip
    (HERE / "expected.json").write_text(json.dumps(profiles, indent=2) + "\n", encoding="utf-8")
    return profiles


if __name__ == "__main__":
    main()
