"""The C reference (firmware_bridge/c) built with gcc into a temp dir, once per session,
and driven line by line over stdin/stdout (fbp_tool.c)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

C_DIR = Path(__file__).resolve().parents[2] / "firmware_bridge" / "c"


class CTool:
    def __init__(self, exe: Path) -> None:
        self.proc = subprocess.Popen(
            [str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )

    def ask(self, line: str) -> str:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline()
        if not out:
            raise AssertionError(f"the C tool died (exit {self.proc.wait()}) on: {line[:200]}")
        return out.strip()

    def ask_many(self, line: str) -> list[str]:
        """For `stream`: lines up to and including the one starting with "end"."""
        first = self.ask(line)
        lines = [first]
        assert self.proc.stdout
        while not lines[-1].startswith("end"):
            nxt = self.proc.stdout.readline()
            if not nxt:
                raise AssertionError("the C tool died in a stream")
            lines.append(nxt.strip())
        return lines

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        rc = self.proc.wait(10)
        assert rc == 0, f"the C tool exited {rc} (a sanitizer finding?)"


@pytest.fixture(scope="session")
def c_tool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CTool]:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.fail("gcc is needed to build the C reference (firmware_bridge/c)")
    out = tmp_path_factory.mktemp("fbp") / "fbp_tool"
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-g"]
    sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    cmd = [gcc, *flags, *sanitize, "-o", str(out), str(C_DIR / "fbp.c"), str(C_DIR / "fbp_tool.c")]
    if subprocess.run(cmd, capture_output=True).returncode != 0:  # no sanitizer runtime
        cmd = [gcc, *flags, "-o", str(out), str(C_DIR / "fbp.c"), str(C_DIR / "fbp_tool.c")]
        built = subprocess.run(cmd, capture_output=True, text=True)
        assert built.returncode == 0, built.stderr
    tool = CTool(out)
    yield tool
    tool.close()
