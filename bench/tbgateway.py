"""The ThingsBoard IoT gateway as a benchmark peer: same Modbus peer, same load, same run.

``thingsboard-gateway`` (PyPI) pins its own pymodbus, so it runs from a venv of its
own, created at bench time under ``.state/bench/tb-venv`` (``DEHONG_BENCH_CACHE``
moves it) and reused afterwards. Nothing here is imported by production code, and
nothing is installed unless a benchmark asks for this peer; where the venv cannot be
made (no PyPI), :func:`measure` returns ``None`` with the reason and the caller
labels the recorded figure instead.

The gateway is configured like ours: ``hosts`` TCP hosts of ``units`` devices, each
``registers`` holding registers read as one block (``"address": "0-49"``, FC 3)
every ``poll_s``; in-memory storage, ``ON_RECEIVED`` reporting (every poll sent),
no rate limits, statistics and remote configuration off, logs at ERROR. It talks
to the plain broker as it would to a ThingsBoard server; it sends telemetry only
after a reply to its ``getSessionLimits`` RPC (``v1/devices/me/rpc/request/N``),
which the bench's subscriber gives on ``v1/devices/me/rpc/response/N`` with no
limits, as a ThingsBoard server without tenant limits would.

Counted: datapoints (keys with a value) received on ``v1/gateway/telemetry`` at the
broker (QoS 1; ThingsBoard has no write-ack) per CPU-second of the gateway process
(all threads), and its polls: entries per device in the window against the ticks
of ``poll_s`` (ThingsBoard stamps a poll with its own time, not a tick).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.edge_load import BROKER, ROOT, cpu_seconds, rss_mb, start_peer, stop_process

TB_VERSION = "3.8.5"
#: What thingsboard_gateway/connectors/modbus/modbus_connector.py requires of 3.8.5
#: (it pip-installs it at run time otherwise); with pyserial(-asyncio) it imports.
TB_PACKAGES = [f"thingsboard-gateway=={TB_VERSION}", "pymodbus==3.9.2", "pyserial",
               "pyserial-asyncio"]  # fmt: skip
#: The recorded anchor, used (and labelled so) only where the peer cannot run here.
RECORDED = {
    "dp_per_cpu_s": 55_000,
    "source": "ThingsBoard gateway with block reads, recorded on another machine "
    "(docs/benchmarks.md, issue 3); not measured in this run",
}
SESSION_LIMITS = {
    "maxPayloadSize": 65536,
    "maxInflightMessages": 100,
    "rateLimits": {"messages": "0:0,", "telemetryMessages": "0:0,", "telemetryDataPoints": "0:0,"},
    "gatewayRateLimits": {
        "messages": "0:0,",
        "telemetryMessages": "0:0,",
        "telemetryDataPoints": "0:0,",
    },
}


def cache_dir() -> Path:
    return Path(os.environ.get("DEHONG_BENCH_CACHE", ROOT / ".state" / "bench"))


def venv_python() -> tuple[Path | None, str]:
    """The venv's python with thingsboard-gateway importable (made if missing), or
    None and why not."""
    venv = cache_dir() / "tb-venv"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import thingsboard_gateway, pymodbus, serial_asyncio; "
             "print(pymodbus.__version__)"]  # fmt: skip
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python, ""
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--retries", "1", "--timeout", "20"]
        subprocess.run([*pip, *TB_PACKAGES], check=True, capture_output=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        return None, f"cannot install {' '.join(TB_PACKAGES)} into {venv}: {exc} {err[-300:]!r}"
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        return None, f"thingsboard-gateway does not import from {venv}"
    return python, ""


def write_config(conf: Path, python: Path, token: str, ports: list[int], units: int,
                 registers: int, poll_s: float) -> None:  # fmt: skip
    conf.mkdir(parents=True, exist_ok=True)
    gateway = {
        "thingsboard": {
            "host": BROKER[0], "port": BROKER[1], "remoteShell": False,
            "remoteConfiguration": False, "latencyDebugMode": False,
            "statistics": {"enable": False, "statsSendPeriodInSeconds": 3600,
                           "customStatsSendPeriodInSeconds": 3600},
            "deviceFiltering": {"enable": False},
            "maxPayloadSizeBytes": 65536, "minPackSendDelayMS": 50, "minPackSizeToSend": 500,
            "checkConnectorsConfigurationInSeconds": 3600, "handleDeviceRenaming": False,
            "security": {"type": "accessToken", "accessToken": token},
            "qos": 1, "reportStrategy": {"type": "ON_RECEIVED"},
            "checkingDeviceActivity": {"checkDeviceInactivity": False},
            "rateLimits": "0:0,", "dpRateLimits": "0:0,", "messagesRateLimits": "0:0,",
            "deviceMessagesRateLimits": "0:0,", "deviceRateLimits": "0:0,",
            "deviceDpRateLimits": "0:0,",
        },
        "storage": {"type": "memory", "read_records_count": 100, "max_records_count": 1_000_000},
        "grpc": {"enabled": False},
        "connectors": [{"type": "modbus", "name": "Modbus", "configuration": "modbus.json"}],
    }  # fmt: skip
    slaves = [
        {
            "host": "127.0.0.1", "port": port, "type": "tcp", "method": "socket", "unitId": u,
            "deviceName": f"{token}-h{h}-u{u}", "deviceType": "default", "timeout": 1,
            "byteOrder": "BIG", "wordOrder": "BIG", "retries": 0, "retryOnEmpty": False,
            "retryOnInvalid": False, "pollPeriod": round(poll_s * 1000),
            "connectAttemptTimeMs": 500, "connectAttemptCount": 5,
            "waitAfterFailedAttemptsMs": 1000,
            "attributes": [], "attributeUpdates": [], "rpc": [],
            "timeseries": [{"tag": "r${address}", "type": "16uint", "functionCode": 3,
                            "objectsCount": 1, "address": f"0-{registers - 1}",
                            "maxRegistersPerRequest": 125}],
        }
        for h, port in enumerate(ports)
        for u in range(1, units + 1)
    ]  # fmt: skip
    (conf / "tb_gateway.json").write_text(json.dumps(gateway))
    (conf / "modbus.json").write_text(json.dumps({"master": {"slaves": slaves}}))
    package_conf = subprocess.run(
        [str(python), "-c", "import os, thingsboard_gateway as t; "
         "print(os.path.join(os.path.dirname(t.__file__), 'config'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    logs = json.loads(Path(package_conf, "logs.json").read_text())
    for section in ("handlers", "loggers"):
        for item in logs.get(section, {}).values():
            item["level"] = "ERROR"
    logs.get("root", {})["level"] = "ERROR"
    (conf / "logs.json").write_text(json.dumps(logs))


class TbCloud:
    """Plays the ThingsBoard server on a plain broker: answers getSessionLimits, counts
    datapoints and the poll times per device."""

    def __init__(self, client: Any, token: str) -> None:
        self.client = client
        self.token = token
        self.datapoints = 0
        self.rpc_answered = 0
        self.stamps: dict[str, list[int]] = {}

    async def listen(self) -> None:
        async for message in self.client.messages:
            topic = str(message.topic)
            payload = bytes(message.payload)  # type: ignore[arg-type]
            if topic.startswith("v1/devices/me/rpc/request/"):
                request = json.loads(payload)
                if request.get("method") == "getSessionLimits":
                    request_id = topic.rsplit("/", 1)[1]
                    await self.client.publish(f"v1/devices/me/rpc/response/{request_id}",
                                              json.dumps(SESSION_LIMITS), qos=1)  # fmt: skip
                    self.rpc_answered += 1
                continue
            if topic != "v1/gateway/telemetry":
                continue
            for device, entries in json.loads(payload).items():
                if not device.startswith(self.token):
                    continue
                for entry in entries if isinstance(entries, list) else [entries]:
                    values = entry.get("values", entry)
                    self.datapoints += sum(v is not None for v in values.values())
                    if "ts" in entry:
                        self.stamps.setdefault(device, []).append(int(entry["ts"]))


async def measure(*, hosts: int = 10, units: int = 10, registers: int = 50, poll_s: float = 0.1,
                  warmup_s: float = 10.0, window_s: float = 30.0) -> dict[str, Any] | None:  # fmt: skip
    """The ThingsBoard gateway under the load :func:`bench.edge_load.measure` gives
    ours; None (with ``reason`` in :data:`LAST_ERROR`) when it cannot run here."""
    import aiomqtt

    python, why = await asyncio.to_thread(venv_python)
    if python is None:
        LAST_ERROR[0] = why
        return None
    token = f"tbbench{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(prefix="dehong-tb-") as tmp:
        tmpd = Path(tmp)
        peer_proc, ports = await start_peer(tmpd, hosts, units, registers)
        tb_proc = None
        try:
            conf = tmpd / "config"
            await asyncio.to_thread(write_config, conf, python, token, ports, units, registers,
                                    poll_s)  # fmt: skip
            async with aiomqtt.Client(*BROKER, identifier=f"tbcloud-{token}") as client:
                await client.subscribe([("v1/gateway/telemetry", 1),
                                        ("v1/devices/me/rpc/request/+", 1)])  # fmt: skip
                cloud = TbCloud(client, token)
                listener = asyncio.create_task(cloud.listen())
                tb_proc = await asyncio.create_subprocess_exec(
                    str(python), "-c", "from thingsboard_gateway.tb_gateway import main; main()",
                    cwd=tmpd, env={**os.environ, "TB_GW_CONFIG_DIR": str(conf) + "/",
                                   "PYTHONPATH": ""},
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
                await asyncio.sleep(warmup_s)
                if tb_proc.returncode is not None:
                    LAST_ERROR[0] = f"thingsboard-gateway exited with {tb_proc.returncode}"
                    return None
                cpu0, dp0, t0 = cpu_seconds(tb_proc.pid), cloud.datapoints, time.time()
                await asyncio.sleep(window_s)
                cpu1, dp1, t1 = cpu_seconds(tb_proc.pid), cloud.datapoints, time.time()
                rss_end = round(rss_mb(tb_proc.pid), 1)
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
        finally:
            await stop_process(tb_proc)
            await stop_process(peer_proc)
    cpu, dp = cpu1 - cpu0, dp1 - dp0
    lo, hi = int(t0 * 1000) + 2000, int(t1 * 1000) - 3000
    step = round(poll_s * 1000)
    expected = len(range(lo, hi, step)) * hosts * units
    polled = sum(1 for stamps in cloud.stamps.values() for t in stamps if lo <= t < hi)
    return {
        "peer": f"thingsboard-gateway {TB_VERSION} (PyPI), own venv, block reads (FC 3, "
        f"{registers} registers per request), memory storage, ON_RECEIVED, QoS 1",
        "load": f"{hosts * units} devices x {registers} registers every {poll_s} s, "
        f"{hosts} TCP hosts",
        "offered_dp_per_s": round(hosts * units * registers / poll_s),
        "received_dp_per_s": round(dp / (t1 - t0)),
        "gateway_cpu_percent": round(100 * cpu / (t1 - t0), 1),
        "dp_per_cpu_s": round(dp / cpu) if cpu else None,
        "polls_expected": expected,
        "polls_received": polled,
        "polls_missing": max(0, expected - polled),
        "session_limits_rpc_answered": cloud.rpc_answered,
        "rss_mb_end": rss_end,
        "measured": True,
    }


#: Why the last :func:`measure` returned None.
LAST_ERROR: list[str] = [""]


def recorded(reason: str) -> dict[str, Any]:
    """The recorded anchor, labelled as such, with why the peer did not run."""
    return {**RECORDED, "measured": False, "why_not_measured": reason}


if __name__ == "__main__":
    window = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    out = asyncio.run(measure(warmup_s=8, window_s=window))
    sys.stdout.write(json.dumps(out if out is not None else recorded(LAST_ERROR[0])) + "\n")
