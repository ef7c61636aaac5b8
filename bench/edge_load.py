"""The gateway under Modbus load, end to end: datapoints per CPU-second, CPU per reading, RSS.

Three processes, so that the gateway's CPU is its own:

- the peer (``python -m bench.edge_load peer``): ``hosts`` minimal Modbus TCP
  servers (FC 3), each serving ``units`` devices of ``registers`` holding registers;
- the gateway: ``dehong sim gateway`` (``dehong edge run`` with the simulated BLE
  air injected) polling every device every ``poll_s`` through the durable buffer
  (fsync on) to MQTT, with the simulated BLE air running;
- this process: plays the cloud on the shared Mosquitto (subscribes to the
  gateway's data, publishes a write-ack per batch) and measures the gateway's
  CPU time (``/proc/PID/stat``) and RSS (``/proc/PID/status``).

Figures, over the measured window: datapoints write-acked per CPU-second of the
gateway, CPU µs per reading from poll to write-ack (gateway side), polls lost
(ticks skipped, see :func:`count_polls`) and late (taken late, with their real
time), the load average, RSS at the marks given and its slope.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

BROKER = ("127.0.0.1", 1883)
COUNTY = "533103"
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------------- peer


class FastPeer(asyncio.Protocol):
    """A minimal Modbus TCP server (FC 3, read holding registers) for load runs.

    pymodbus' own server costs about a millisecond of CPU per request, so at 1,000
    requests/s on this 2-core machine it, not the gateway, would be what is
    measured. This one answers from a prepared frame per (unit, address, count).
    """

    def __init__(self, registers: int) -> None:
        self.registers = registers
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.frames: dict[tuple[int, int, int], bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while len(self.buf) >= 12:
            tid, _proto, length, unit, fc = struct.unpack(">HHHBB", self.buf[:8])
            frame, self.buf = self.buf[: 6 + length], self.buf[6 + length :]
            if fc != 3 or len(frame) < 12:
                reply = struct.pack(">HHHBBB", tid, 0, 3, unit, fc | 0x80, 1)
            else:
                address, count = struct.unpack(">HH", frame[8:12])
                body = self.frames.get((unit, address, count))
                if body is None:
                    words = [(address + k) % 65536 for k in range(count)]
                    body = struct.pack(f">BB{count}H", 3, 2 * count, *words)
                    self.frames[(unit, address, count)] = body
                reply = struct.pack(">HHHB", tid, 0, len(body) + 1, unit) + body
            assert self.transport is not None
            self.transport.write(reply)


async def peer(port_file: Path, hosts: int, units: int, registers: int) -> None:
    loop = asyncio.get_running_loop()
    ports = []
    for _ in range(hosts):
        server = await loop.create_server(lambda: FastPeer(registers), "127.0.0.1", 0)
        ports.append(server.sockets[0].getsockname()[1])
    await asyncio.to_thread(port_file.write_text, " ".join(map(str, ports)))
    await asyncio.Event().wait()


async def start_peer(
    tmpd: Path, hosts: int, units: int, registers: int
) -> tuple[asyncio.subprocess.Process, list[int]]:
    """The Modbus peer in its own process; its ports once it listens."""
    port_file = tmpd / "ports"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.edge_load", "peer", str(port_file),
        str(hosts), str(units), str(registers), cwd=ROOT,
    )  # fmt: skip
    for _ in range(200):
        if port_file.exists() and port_file.read_text():
            return proc, [int(p) for p in port_file.read_text().split()]
        await asyncio.sleep(0.05)
    await stop_process(proc)
    raise RuntimeError("the Modbus peer did not start within 10 s")


async def stop_process(proc: asyncio.subprocess.Process | None) -> None:
    if proc is not None and proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


# -------------------------------------------------------------------- parent


def gateway_config(path: Path, state: Path, gw: str, ports: list[int], units: int,
                   registers: int, poll_s: float) -> None:  # fmt: skip
    data = {
        "gateway": {"id": gw, "county": COUNTY, "site": "bench", "state_dir": str(state)},
        "mqtt": {"host": BROKER[0], "port": BROKER[1], "keepalive_s": 30},
        "batch": {"interval_s": 1.0, "ack_timeout_s": 30},
        "modbus": {"hosts": [
            {"host": "127.0.0.1", "port": port, "timeout_s": 1.0, "devices": [
                {"id": f"h{h}-u{u}", "unit": u, "poll_interval_s": poll_s,
                 "registers": [{"metric": f"r{k}", "address": k, "type": "uint16"}
                               for k in range(registers)]}
                for u in range(1, units + 1)]}
            for h, port in enumerate(ports)]},
        "ble": {"enabled": True, "backend": "simulated", "min_interval_s": 0},
    }  # fmt: skip
    path.write_text(yaml.safe_dump(data))


class Cloud:
    """Acks every batch of one gateway; counts readings and keeps timestamps per device."""

    def __init__(self, client: Any, gw: str) -> None:
        self.client = client
        self.gw = gw
        self.readings = 0
        self.stamps: dict[str, set[int]] = {}

    async def listen(self) -> None:
        import orjson

        from protocol.codec import encode
        from protocol.messages import AckEntry, WriteAck
        from protocol.topics import Channel, Topic

        ack_topic = str(Topic.build(COUNTY, self.gw, Channel.ACK))
        async for message in self.client.messages:
            # lean on purpose: a full pydantic decode of 50,000 readings/s would take
            # the CPU this run measures the gateway with (ingest is benchmarked on its own)
            batch = orjson.loads(bytes(message.payload))  # type: ignore[arg-type]
            readings = 0
            for s in batch["series"]:
                readings += sum(v is not None for col in s["values"].values() for v in col)
                dt, t = s.get("dt", 1000), s["t0"]
                steps = [dt] * (s["n"] - 1) if isinstance(dt, int) else dt
                stamps = [t]
                for gap in steps:
                    t += gap
                    stamps.append(t)
                self.stamps.setdefault(s["device"], set()).update(stamps)
            entry = AckEntry(id=batch["id"], seq=batch["seq"], status="stored", stored=readings)
            ack = WriteAck(gw=self.gw, ts=int(time.time() * 1000), acks=[entry])
            await self.client.publish(ack_topic, encode(ack), qos=1)
            self.readings += readings


def count_polls(stamps: dict[str, set[int]], step: int, lo: int, hi: int) -> dict[str, int]:
    """Polls judged, lost and late, from the Modbus devices' timestamps in [lo, hi).

    A poll on time carries its tick's time (a multiple of ``step``); a late one its
    real time, which lies after its tick and before the next on-time poll (a device's
    timestamps increase). So between two consecutive on-tick timestamps a < b of a
    device there must be exactly (b - a) / step timestamps in (a, b]; each one fewer
    is a tick skipped (*lost*). Spans before the first and after the last on-tick
    timestamp of the window are not judged, so a poll still being caught up at the
    window's edge is not miscounted as lost."""
    judged = lost = late = 0
    for device, device_stamps in stamps.items():
        if ".h" not in device:
            continue  # BLE tags
        seq = sorted(t for t in device_stamps if lo <= t < hi)
        late += sum(1 for t in seq if t % step)
        on_tick = [k for k, t in enumerate(seq) if t % step == 0]
        device_judged = device_taken = 0
        for a, b in itertools.pairwise(on_tick):
            device_judged += (seq[b] - seq[a]) // step
            device_taken += b - a
        judged += device_judged
        lost += max(0, device_judged - device_taken)
    return {"polls_judged": judged, "polls_lost": lost, "polls_late": late}


async def measure(
    *, hosts: int = 10, units: int = 10, registers: int = 50, poll_s: float = 0.1,
    warmup_s: float = 10.0, window_s: float = 30.0, rss_marks_s: tuple[float, ...] = (),
) -> dict[str, Any]:  # fmt: skip
    import aiomqtt

    from protocol.topics import Channel, Topic

    root = ROOT
    gw = f"bench-gw-{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(prefix="dehong-load-") as tmp:
        tmpd = Path(tmp)
        peer_proc, ports = await start_peer(tmpd, hosts, units, registers)
        gw_proc = None
        try:
            config = tmpd / "gateway.yaml"
            gateway_config(config, tmpd / "edge", gw, ports, units, registers, poll_s)
            async with aiomqtt.Client(*BROKER, identifier=f"cloud-{gw}") as client:
                await client.subscribe(str(Topic.build(COUNTY, gw, Channel.DATA)), qos=1)
                cloud = Cloud(client, gw)
                listener = asyncio.create_task(cloud.listen())
                gw_proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "dehong.cli", "sim", "gateway", "--config", str(config),
                    cwd=root, stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
                started = time.monotonic()
                await asyncio.sleep(warmup_s)
                cpu0, readings0, t0 = cpu_seconds(gw_proc.pid), cloud.readings, time.time()
                peer0, self0 = cpu_seconds(peer_proc.pid), cpu_seconds(os.getpid())
                rss: dict[str, float] = {}
                marks = sorted(rss_marks_s)
                end = warmup_s + window_s
                for mark in [*marks, end]:
                    await asyncio.sleep(max(0.0, mark - (time.monotonic() - started)))
                    if mark in marks:
                        rss[f"{mark:.0f}s"] = round(rss_mb(gw_proc.pid), 1)
                cpu1, readings1, t1 = cpu_seconds(gw_proc.pid), cloud.readings, time.time()
                peer_cpu = cpu_seconds(peer_proc.pid) - peer0
                cloud_cpu = cpu_seconds(os.getpid()) - self0
                rss_end = round(rss_mb(gw_proc.pid), 1)
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
        finally:
            await stop_process(gw_proc)
            await stop_process(peer_proc)
    cpu = cpu1 - cpu0
    readings = readings1 - readings0
    step = round(poll_s * 1000)
    lo, hi = int(t0 * 1000) + 2000, int(t1 * 1000) - 3000  # inside the window, batches settled
    polls = count_polls(cloud.stamps, step, lo, hi)
    out: dict[str, Any] = {
        "load": f"{hosts * units} devices x {registers} registers every {poll_s} s, "
        f"{hosts} TCP hosts, BLE simulated",
        "offered_dp_per_s": round(hosts * units * registers / poll_s),
        "acked_dp_per_s": round(readings / (t1 - t0)),
        "gateway_cpu_percent": round(100 * cpu / (t1 - t0), 1),
        "peer_cpu_percent": round(100 * peer_cpu / (t1 - t0), 1),
        "test_cloud_cpu_percent": round(100 * cloud_cpu / (t1 - t0), 1),
        "dp_per_cpu_s": round(readings / cpu) if cpu else None,
        "cpu_us_per_reading": round(cpu / readings * 1e6, 2) if readings else None,
        **polls,
        "loadavg_1min": round(os.getloadavg()[0], 2),
        "rss_mb_end": rss_end,
    }
    if rss:
        out["rss_mb"] = rss
        if len(marks) >= 2:
            first, last = rss[f"{marks[0]:.0f}s"], rss[f"{marks[-1]:.0f}s"]
            out["rss_slope_mb_per_min"] = round((last - first) / ((marks[-1] - marks[0]) / 60), 3)
    return out


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "peer":
        asyncio.run(peer(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
