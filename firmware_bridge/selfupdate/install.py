"""Build a release's virtual environment from its verified wheels, offline.

``python -m venv --without-pip`` makes the environment (a fraction of a second;
``ensurepip`` takes 5-15 s on a Pi), then the running environment's pip installs
into it with ``pip --python NEW_VENV/bin/python install --no-index --find-links
WHEELS WHEELS/*.whl``: every wheel of the bundle, from the bundle only, never from
a package index (``--no-index``; binary wheels only). pip checks that the bundle
holds every dependency. A release bundle should carry pip's own wheel, so that the
release it installs can install the next one.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import venv
from pathlib import Path

log = logging.getLogger(__name__)

#: Seconds pip may take to install a bundle (a Pi installs some 30 wheels in about a minute).
PIP_TIMEOUT_S = 900.0


class InstallError(RuntimeError):
    """The release could not be installed (pip failed, or its smoke check did)."""


def _python(venv_dir: Path) -> Path:
    return venv_dir / "bin" / "python"


def create_venv(venv_dir: Path, base_python: str | None = None) -> Path:
    """A new, empty environment (no pip, no system site-packages)."""
    if base_python is None:
        venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(venv_dir)
    else:
        run([base_python, "-m", "venv", "--without-pip", "--clear", str(venv_dir)], "venv")
    return _python(venv_dir)


def run(cmd: list[str], what: str, timeout_s: float = PIP_TIMEOUT_S) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env["PIP_CONFIG_FILE"] = os.devnull  # no index or option from a config file
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout_s, env=env, check=False, cwd="/"
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"{what}: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip()[-1500:]
        raise InstallError(f"{what} failed (exit {proc.returncode}): {tail}")
    return proc.stdout


def pip_install(venv_dir: Path, wheels_dir: Path, wheels: list[Path]) -> None:
    """Install every wheel into ``venv_dir`` from ``wheels_dir`` only (``--no-index``)."""
    cmd = [
        sys.executable, "-m", "pip", "--python", str(_python(venv_dir)),
        "--disable-pip-version-check", "--no-input", "install", "--no-index",
        "--find-links", str(wheels_dir), "--only-binary=:all:", "--no-cache-dir",
        *[str(w) for w in wheels],
    ]  # fmt: skip
    log.info("self-update: pip install --no-index of %d wheel(s) into %s", len(wheels), venv_dir)
    run(cmd, "pip install --no-index")


def smoke_check(venv_dir: Path, config: Path | None) -> None:
    """The new release can at least start its CLI and read this gateway's config."""
    dehong = venv_dir / "bin" / "dehong"
    if not dehong.exists():
        raise InstallError(f"{dehong}: the release installs no `dehong` command")
    if config is not None:
        run([str(dehong), "edge", "check-config", str(config)], "the release's check-config", 120)
