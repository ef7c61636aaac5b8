"""``dehong coldchain mkt FILE.csv`` against hand-computed profiles (tests/data/mkt:
expected figures from an independent Decimal computation, make_profiles.py), and its
refusals of bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "mkt"
EXPECTED = json.loads((DATA / "expected.json").read_text())


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from dehong.cli import main; main()", "coldchain", "mkt", *args],
        capture_output=True, text=True, input=stdin, cwd=ROOT, timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_the_profiles_are_what_the_generator_writes() -> None:
    sys.path.insert(0, str(DATA))
    try:
        import make_profiles  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(DATA))
    before = {p.name: p.read_bytes() for p in DATA.glob("*.csv")}
    before["expected.json"] = (DATA / "expected.json").read_bytes()
    make_profiles.main()
    after = {p.name: p.read_bytes() for p in DATA.glob("*.csv")}
    after["expected.json"] = (DATA / "expected.json").read_bytes()
    assert before == after


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mkt_agrees_with_hand_computed_profiles(name: str) -> None:
    exp = EXPECTED[name]
    r = run(str(DATA / f"{name}.csv"), "--low", str(exp["low"]), "--high", str(exp["high"]))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert abs(out["mkt_c"] - exp["mkt_c"]) <= 0.01, (out["mkt_c"], exp["mkt_c"])
    assert abs(out["mkt_c"] - exp["mkt_c"]) <= 1e-3  # in fact far closer
    assert out["min_c"] == exp["min_c"] and out["max_c"] == exp["max_c"]
    assert abs(out["time_out_of_range_s"] - exp["time_out_of_range_s"]) < 0.01
    assert abs(out["covered_s"] - exp["covered_s"]) < 0.01
    assert out["n"] == exp["n"] and out["poll_interval_s"] == exp["poll_s"]


def test_stdin_and_explicit_interval() -> None:
    text = "time,temp_c\n2026-01-01T00:00:00Z,4\n2026-01-01T00:01:00Z,10\n"
    r = run("-", "--high", "8", "--poll-s", "60", "--end", "2026-01-01T00:03:00Z", stdin=text)
    out = json.loads(r.stdout)
    # 4 °C for 60 s, 10 °C held 120 s (2x the poll) then nothing: 120 s above
    assert out["time_out_of_range_s"] == 120.0 and out["covered_s"] == 180.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1: the file is empty"),
        ("t,temp\n1,2\n", "line 1: header is 't,temp'; expected time,temp_c"),
        ("time,temp_c\n2026-01-01T00:00:00Z,4\n2026-01-01T00:01:00,5\n",
         "line 3, field time: '2026-01-01T00:01:00' has no time zone"),
        ("time,temp_c\nyesterday,4\n", "line 2, field time: 'yesterday' is neither ISO 8601"),
        ("time,temp_c\n2026-01-01T00:00:00Z,warm\n", "line 2, field temp_c: 'warm' is not a number"),
        ("time,temp_c\n2026-01-01T00:00:00Z,nan\n", "line 2, field temp_c: 'nan' is not a finite"),
        ("time,temp_c\n2026-01-01T00:00:00Z,-300\n", "above absolute zero"),
        ("time,temp_c\n2026-01-01T00:00:00Z,4,5\n", "line 2: 3 fields; expected 2"),
        ("time,temp_c\n1767225600,4\n1767225600000,5\n", "line 3, field time: '1767225600000' appears twice"),
        ("time,temp_c\n", "no readings after the header"),
    ],
)  # fmt: skip
def test_bad_files_are_refused_naming_line_and_field(text: str, message: str) -> None:
    r = run("-", stdin=text)
    assert r.returncode == 2 and r.stdout == ""
    assert message in r.stderr, r.stderr


def test_bad_options_and_missing_file() -> None:
    r = run(str(DATA / "constant_5c.csv"), "--low", "9", "--high", "2")
    assert r.returncode == 2 and "--low 9.0 is above --high 2.0" in r.stderr
    r = run(str(DATA / "nope.csv"))
    assert r.returncode == 2 and "nope.csv" in r.stderr and "No such file" in r.stderr
    r = run(str(DATA / "constant_5c.csv"), "--poll-s", "0")
    assert r.returncode == 2 and "poll_interval_s" in r.stderr
