"""A private Mosquitto for one test: our config, rendered with a free port and temp paths.

The config comes from :func:`cloud.provisioning.mosquitto.render_mosquitto_conf`,
the same settings as ``deploy/mosquitto/mosquitto.conf``. The passwd and acl
files live in ``dir`` (what provisioning writes as ``settings.mosquitto_dir``);
``pid_file`` is what ``settings.mosquitto_pid_file`` points at, so provisioning's
SIGHUP reaches this broker. With ``agent=True`` the broker runs the way
docker-compose runs it, under ``deploy/mosquitto/run.sh`` (the reload agent), and
no pid file is written: provisioning must go through the agent.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from cloud.provisioning.mosquitto import (
    ACL_FILE,
    PASSWD_FILE,
    RELOAD_DONE,
    RELOAD_FIFO,
    Account,
    TlsListener,
    render_mosquitto_conf,
    request_reload,
    write_files,
)
from tests.support.services import free_port, missing, port_open, terminate

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]
RUN_SH = ROOT / "deploy" / "mosquitto" / "run.sh"


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


class MosquittoBroker:
    def __init__(
        self, root: Path, binary: str, *, agent: bool = False, tls: TlsListener | None = None
    ) -> None:
        self.root = root
        self.binary = binary
        self.agent = agent
        self.tls = tls
        #: the user Mosquitto drops to when started as root (None: root when we are root)
        self.run_as: str | None = None
        self.host = HOST
        self.port = free_port()
        #: passwd and acl live here: use it as ``settings.mosquitto_dir``.
        self.dir = root / "mosquitto"
        self.data_dir = root / "data"
        self.pid_file = root / "mosquitto.pid"
        self.conf_file = root / "mosquitto.conf"
        self.log_file = root / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def passwd_file(self) -> Path:
        return self.dir / PASSWD_FILE

    @property
    def acl_file(self) -> Path:
        return self.dir / ACL_FILE

    def start(self, timeout_s: float = 10.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.passwd_file.exists():
            write_files(self.dir, list[Account]())  # empty: nobody may connect yet
        user = self.run_as or ("root" if os.geteuid() == 0 else None)
        self.conf_file.write_text(
            render_mosquitto_conf(
                self.port,
                self.data_dir,
                self.passwd_file,
                self.acl_file,
                None,
                user=user,
                tls=self.tls,
            )
        )
        log = self.log_file.open("ab")
        if self.agent:
            env = {
                **os.environ,
                "PATH": f"{Path(self.binary).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "DEHONG_MOSQUITTO_DIR": str(self.dir),
                "MOSQUITTO_CONF": str(self.conf_file),
            }
            self.proc = subprocess.Popen(
                ["/bin/sh", str(RUN_SH)], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        else:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.conf_file)], stdout=log, stderr=subprocess.STDOUT
            )
            # Mosquitto writes pid_file only when daemonized; write it ourselves.
            self.pid_file.write_text(f"{self.proc.pid}\n")
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with {self.proc.returncode}: {self.log()[-2000:]}"
                )
            if port_open(self.host, self.port, timeout=0.2) and (
                not self.agent or (self.dir / RELOAD_FIFO).exists()
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"mosquitto did not listen on {self.port} in {timeout_s} s: {self.log()}"
        )

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def reload(self) -> None:
        """SIGHUP: reread passwd and acl. Waits until the broker logged the reload."""
        if self.proc is None:
            raise RuntimeError("broker not started")
        before = self.log().count("Reloading config")
        if self.agent:  # through the agent, as provisioning does in docker-compose
            token = request_reload(self.dir / RELOAD_FIFO)
            done = self.dir / RELOAD_DONE
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and (
                not done.exists() or done.read_text().strip() != token
            ):
                time.sleep(0.02)
        else:
            self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.log().count("Reloading config") <= before:
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL, as a crash would (persistence not saved)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
        self.proc = None


def start_broker(
    root: Path, *, agent: bool = False, tls: TlsListener | None = None
) -> MosquittoBroker:
    binary = mosquitto_binary()
    if binary is None:
        missing("mosquitto binary not found; install it (apt-get install mosquitto)")
    assert binary is not None
    broker = MosquittoBroker(root, binary, agent=agent, tls=tls)
    broker.start()
    return broker
