"""Helpers of the self-update tests: release wheels, a gateway service, a broker, a cloud.

- :func:`make_release_wheel` writes a real wheel (zip, METADATA, WHEEL, RECORD with
  hashes) of a small distribution, ``dehong-gateway-stub``, whose console script
  ``dehong`` runs this checkout's real CLI (``dehong.cli.main``: the real gateway).
  Its ``.pth`` file puts the checkout and the shared venv's site-packages on the
  path of the venv it is installed into, so a release venv built by the updater
  (``venv`` + ``pip install --no-index``) runs the real gateway without the
  project's 30 dependency wheels (which CI cannot download). A *broken* release
  is the same gateway whose Modbus driver fails to start: "its drivers do not come
  up".
- :class:`ProcessService` does what ``dehong-edge.service`` does under systemd:
  runs ``ROOT/current/venv/bin/dehong edge run --config ...`` (the link resolved at
  each start) and restarts it with SIGTERM, then a fresh start.
- :class:`Broker`: a private Mosquitto on a free port; :class:`Cloud`: receives
  batches and events over it and publishes write-acks, counting every delivery.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import signal
import site
import subprocess
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

from protocol.codec import decode, encode
from protocol.messages import AckEntry, DataBatch, EventMessage, WriteAck
from protocol.topics import Channel, Topic, subscription
from tests.support.services import free_port, missing, port_open

ROOT = Path(__file__).resolve().parents[2]
DIST = "dehong_gateway_stub"

_MODULE = '''"""A test release of the gateway: the checkout's real CLI{note}."""

BROKEN = {broken!r}


def main() -> None:
    if BROKEN:
        from edge.drivers.modbus import ModbusDriver

        async def start(self, sink):
            raise RuntimeError("release {version}: the Modbus driver does not come up")

        ModbusDriver.start = start
    from dehong.cli import main as cli

    cli()
'''


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_release_wheel(
    dest: Path, version: str, *, broken: bool = False, requires: tuple[str, ...] = ()
) -> Path:
    """A wheel of ``dehong-gateway-stub`` ``version`` in ``dest`` (``requires``: its
    ``Requires-Dist`` lines)."""
    dest.mkdir(parents=True, exist_ok=True)
    info = f"{DIST}-{version}.dist-info"
    paths = [str(ROOT), *site.getsitepackages()]
    note = " whose Modbus driver fails" if broken else ""
    files: dict[str, bytes] = {
        f"{DIST}/__init__.py": _MODULE.format(broken=broken, version=version, note=note).encode(),
        f"{DIST}.pth": ("\n".join(paths) + "\n").encode(),
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: dehong-gateway-stub\nVersion: {version}\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires)
        ).encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: dehong-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
        f"{info}/entry_points.txt": f"[console_scripts]\ndehong = {DIST}:main\n".encode(),
    }
    record = [_record_line(name, data) for name, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = dest / f"{DIST}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


class ProcessService:
    """``dehong-edge.service`` without systemd: the gateway from ``root/current``."""

    def __init__(self, root: Path, config: Path, log: Path) -> None:
        self.root = root
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        exe = self.root / "current" / "venv" / "bin" / "dehong"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(exe), "edge", "run", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.root,
            )
        # reap it when it exits, as systemd does (a zombie would still look alive)
        threading.Thread(target=self.proc.wait, daemon=True).start()
        self.starts += 1

    def stop(self, timeout_s: float = 20.0) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode

    def restart(self) -> None:
        self.stop()
        self.start()


class Broker:
    """A private Mosquitto (anonymous, no persistence) on a free port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin:/usr/bin")
        if binary is None:
            missing("the mosquitto binary is not installed")
            return
        conf = self.root / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port, timeout=0.2):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto did not listen on {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


class Cloud:
    """Receives a gateway's batches and events on the private broker, acks each batch."""

    def __init__(self, port: int, county: str) -> None:
        self.port = port
        self.county = county
        self.batches: list[DataBatch] = []
        self.events: list[EventMessage] = []
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        import aiomqtt

        self._client = aiomqtt.Client("127.0.0.1", self.port, identifier="test-cloud")
        await self._client.__aenter__()
        await self._client.subscribe(subscription(Channel.DATA), qos=1)
        await self._client.subscribe(subscription(Channel.EVENT), qos=1)
        self._task = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        async for message in self._client.messages:
            topic = Topic.parse(str(message.topic))
            payload = bytes(message.payload)
            if topic.channel is Channel.EVENT:
                self.events.append(decode(EventMessage, payload))
                continue
            batch = decode(DataBatch, payload)
            self.batches.append(batch)
            ack = WriteAck(
                gw=batch.gw,
                ts=int(time.time() * 1000),
                acks=[
                    AckEntry(
                        id=batch.id, seq=batch.seq, status="stored", stored=batch.reading_count()
                    )
                ],
            )
            await self._client.publish(
                str(Topic.build(self.county, batch.gw, Channel.ACK)), encode(ack), qos=1
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._client is not None:
            await self._client.__aexit__(None, None, None)

    def readings(self) -> list[tuple[str, str, int]]:
        """Every reading delivered, one entry per delivery: (device, metric, ts_ms)."""
        return [
            (series.device, metric, ts)
            for batch in self.batches
            for series in batch.series
            for ts, metric, _value, _flags in series.readings()
        ]
