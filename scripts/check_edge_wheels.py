"""Check that everything a Raspberry-Pi gateway installs (the base dependencies and
the ``edge`` extra, with their own dependencies) ships a wheel for
manylinux2014_aarch64 on Python 3.11: a Pi must never compile at install time.

Runs ``pip download --platform manylinux2014_aarch64 --only-binary=:all:``.

``--dest DIR`` keeps the wheels (and adds pip's own) instead of a temporary
directory: with the project's wheel (``pip wheel --no-deps . -w DIR``) that is the
wheels directory of a gateway release, ``dehong fw bundle --wheels DIR``
(firmware_bridge/README.md, "Gateway self-update").
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def edge_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["edge"]]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, help="keep the wheels here (a release's wheels)")
    args = parser.parse_args(argv)
    reqs = edge_requirements() + (["pip"] if args.dest else [])
    with tempfile.TemporaryDirectory() as tmp:
        dest = str(args.dest or tmp)
        Path(dest).mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "pip", "download", "--quiet", "--dest", dest,
            "--platform", "manylinux2014_aarch64", "--platform", "manylinux_2_17_aarch64",
            "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
            "--only-binary=:all:", *reqs,
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stdout + proc.stderr, file=sys.stderr)
            print("edge wheels: FAILED: a dependency of the edge extra has no aarch64 wheel")
            return 1
        wheels = sorted(p.name for p in Path(dest).iterdir())
    print(f"edge wheels: {len(wheels)} wheels for manylinux2014_aarch64 / cp311:")
    for w in wheels:
        print(f"  {w}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
