"""Private servers a benchmark (or a test) starts for itself on free loopback ports:
an influxd rendered from ``deploy/influxdb/influxdb.conf`` the way
``scripts/services.sh`` renders it, and a Mosquitto with our config and the
generated passwd/acl files. Plus CPU time and RSS of a process, from /proc."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from cloud.provisioning.mosquitto import ACL_FILE, PASSWD_FILE, render_mosquitto_conf, write_files

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class ServerMissing(RuntimeError):
    """The server binary is not installed; the message says how to get it."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_open(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its waited-for children), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # after the command: state(0) ... utime(11) stime(12) cutime(13) cstime(14)
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _wait_port(proc: subprocess.Popen[bytes], port: int, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if port_open(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} in {timeout_s} s")


def _stop(proc: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


INFLUX_TEMPLATE = ROOT / "deploy" / "influxdb" / "influxdb.conf"


def render_influx_conf(state: Path, port: int, rpc_port: int) -> str:
    """Our influxd config (deploy/influxdb/influxdb.conf) for one server: its state
    directory, HTTP port and RPC port (scripts/services.sh does the same with sed)."""
    conf = INFLUX_TEMPLATE.read_text()
    for key, value in (
        ("@STATE@", str(state)),
        ("@PORT@", str(port)),
        ("@RPC_PORT@", str(rpc_port)),
    ):
        conf = conf.replace(key, value)
    left = sorted(set(re.findall(r"@[A-Z_]+@", conf)))
    if left:
        raise ValueError(f"{INFLUX_TEMPLATE}: placeholders not substituted: {', '.join(left)}")
    return conf


class PrivateInflux:
    """influxd on free ports with its state in ``state``; can be stopped and restarted."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = free_port()
        self.rpc_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout_s: float = 20.0) -> None:
        binary = shutil.which("influxd")
        if binary is None:
            raise ServerMissing(
                "influxd not found; install Debian's influxdb (scripts/services.sh)"
            )
        self.state.mkdir(parents=True, exist_ok=True)
        conf = render_influx_conf(self.state, self.port, self.rpc_port)
        (self.state / "influxdb.conf").write_text(conf)
        with (self.state / "influxd.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "-config", str(self.state / "influxdb.conf")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_port(self.proc, self.port, timeout_s, "influxd")
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}: {self.log()}") from None

    def log(self) -> str:
        path = self.state / "influxd.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        _stop(self.proc, 15)
        self.proc = None


class PrivateMosquitto:
    """Our Mosquitto config on a free port; passwd and acl in ``dir``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.host = HOST
        self.dir = root / "mosquitto"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise ServerMissing("mosquitto not found; apt-get install mosquitto")
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        if not (self.dir / PASSWD_FILE).exists():
            write_files(self.dir, [])
        conf = render_mosquitto_conf(
            self.port,
            self.root / "data",
            self.dir / PASSWD_FILE,
            self.dir / ACL_FILE,
            None,
            user="root" if os.geteuid() == 0 else None,
        )
        (self.root / "mosquitto.conf").write_text(conf)
        with (self.root / "mosquitto.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "-c", str(self.root / "mosquitto.conf")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_port(self.proc, self.port, timeout_s, "mosquitto")

    def reload(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)

    def stop(self) -> None:
        _stop(self.proc, 5)
        self.proc = None
