"""``dehong bench wire``: what a 60 s batch of one cold room at 1 Hz costs on metered 4G.

Counts the whole MQTT PUBLISH packet (fixed header, remaining length, topic, packet
id, payload) per reading, against the goal of 12 bytes. Beside it, in the same
run: a naive row-per-reading JSON encoding (the baseline), the broker's PUBACK
and the cloud's write-ack per batch, and, measured with a real TLS 1.3 session
over memory BIOs, the TLS record overhead per packet, the handshake, and the
keepalive bytes per day (PINGREQ/PINGRESP) separately.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from protocol.codec import encode
from protocol.framing import publish_packet_size
from protocol.messages import AckEntry, DataBatch, WriteAck
from protocol.topics import Channel, Topic

GOAL_BYTES_PER_READING = 12.0
TOPIC_COUNTY, TOPIC_GATEWAY = "533103", "mangshi-coop-01"


def room_batch(seed: int, seconds: int = 60, room: int = 0) -> DataBatch:
    """What the gateway really sends: the simulator's room model read at 1 Hz for
    ``seconds``, through the edge's own batcher (rounding, timestamps, columns)."""
    from edge.batcher import Batcher
    from edge.drivers.base import Sample
    from edge.state import StateStore
    from simulators.coldstore import ColdStoreSimulator, default_rooms

    sim = ColdStoreSimulator(default_rooms(room + 1), seed=seed)
    t0 = (int(time.time()) // 60) * 60_000
    with tempfile.TemporaryDirectory() as state_dir:
        batcher = Batcher(TOPIC_GATEWAY, StateStore(state_dir))
        for i in range(seconds):
            sim.step()
            st = sim.room_state(room)
            batcher.add(
                Sample(
                    device=f"{TOPIC_GATEWAY}.room-{room}",
                    ts_ms=t0 + i * 1000,
                    values={
                        "temperature": st.temperature,
                        "humidity": st.humidity,
                        "door": 1.0 if st.door_open else 0.0,
                        "compressor": 1.0 if st.compressor_on else 0.0,
                    },
                )
            )
        batch = batcher.cut()
    assert batch is not None
    return batch


def naive_json(batch: DataBatch) -> bytes:
    """Baseline: one JSON object per reading with an ISO timestamp (what many gateways send)."""
    rows = []
    for s in batch.series:
        for ts, metric, value, flags in s.readings():
            rows.append(
                {
                    "device": s.device,
                    "metric": metric,
                    "value": value,
                    "ts": datetime.fromtimestamp(ts / 1000, UTC).isoformat(),
                    "quality": flags,
                }
            )
    return orjson.dumps({"gateway": batch.gw, "readings": rows})


def _tls_pair(workdir: Path) -> tuple[ssl.SSLObject, ssl.SSLObject, list[ssl.MemoryBIO]] | None:
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    key, cert = workdir / "key.pem", workdir / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=broker.dehong.example", "-keyout", str(key),
         "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    sctx.minimum_version = ssl.TLSVersion.TLSv1_3
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.load_verify_locations(cert)
    cctx.minimum_version = ssl.TLSVersion.TLSv1_3
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = cctx.wrap_bio(c_in, c_out, server_hostname="broker.dehong.example")
    server = sctx.wrap_bio(s_in, s_out, server_side=True)
    return client, server, [c_in, c_out, s_in, s_out]


def measure_tls(packet: bytes) -> dict[str, Any]:
    """Real TLS 1.3 bytes: handshake, one batch packet, one PINGREQ."""
    with tempfile.TemporaryDirectory() as tmp:
        pair = _tls_pair(Path(tmp))
        if pair is None:
            return {"tls_measured": False, "reason": "openssl not installed"}
        client, server, (c_in, c_out, s_in, s_out) = pair
        wire = {"up": 0, "down": 0}

        def pump() -> None:
            data = c_out.read()
            wire["up"] += len(data)
            s_in.write(data)
            data = s_out.read()
            wire["down"] += len(data)
            c_in.write(data)

        for _ in range(10):
            for end in (client, server):
                try:
                    end.do_handshake()
                except ssl.SSLWantReadError:
                    pass
            pump()
        # TLS 1.3 session tickets arrive after the handshake: count them in the handshake
        try:
            client.read(1)
        except ssl.SSLWantReadError:
            pass
        pump()
        handshake = wire["up"] + wire["down"]
        wire.update(up=0, down=0)
        client.write(packet)
        pump()
        batch_tls = wire["up"]
        wire.update(up=0, down=0)
        client.write(b"\xc0\x00")  # PINGREQ
        pump()
        ping_tls = wire["up"]
        return {
            "tls_measured": True,
            "tls_version": client.version(),
            "tls_handshake_bytes": handshake,
            "tls_batch_packet_bytes": batch_tls,
            "tls_record_overhead_bytes": batch_tls - len(packet),
            "tls_pingreq_bytes": ping_tls,
        }


def run(short: bool = False, keepalive_s: int = 60) -> dict[str, Any]:
    topic = str(Topic.build(TOPIC_COUNTY, TOPIC_GATEWAY, Channel.DATA))
    samples = 5 if short else 50
    per_reading, payloads = [], []
    for seed in range(samples):
        batch = room_batch(seed)
        payload = encode(batch)
        readings = batch.reading_count()
        packet = publish_packet_size(topic, payload)
        per_reading.append(packet / readings)
        payloads.append((batch, payload, packet, readings))
    batch, payload, packet, readings = payloads[0]
    baseline = naive_json(batch)
    baseline_packet = publish_packet_size(topic, baseline)
    ack = encode(
        WriteAck(
            gw=batch.gw,
            ts=batch.sent or 0,
            acks=[AckEntry(id=batch.id, seq=batch.seq, status="stored", stored=readings)],
        )
    )
    ack_topic = str(Topic.build(TOPIC_COUNTY, TOPIC_GATEWAY, Channel.ACK))
    ack_packet = publish_packet_size(ack_topic, ack)
    puback = 4
    tls = measure_tls(b"\x32" + b"\x00" * (packet - 1))
    pings_per_day = 86_400 // keepalive_s
    # Keepalive only runs when the link is idle; with 60 s batches at QoS 1 there is
    # traffic every minute, so this is the upper bound for an idle gateway.
    keepalive_plain = pings_per_day * (2 + 2)
    keepalive_tls = (
        pings_per_day * 2 * tls["tls_pingreq_bytes"] if tls.get("tls_measured") else None
    )
    worst = max(per_reading)
    result: dict[str, Any] = {
        "bench": "wire",
        "short": short,
        "batches": samples,
        "readings_per_batch": readings,
        "topic": topic,
        "payload_bytes": len(payload),
        "publish_packet_bytes": packet,
        "bytes_per_reading": round(per_reading[0], 2),
        "bytes_per_reading_max": round(worst, 2),
        "goal_bytes_per_reading": GOAL_BYTES_PER_READING,
        "goal_met": worst <= GOAL_BYTES_PER_READING,
        "baseline_naive_json_bytes_per_reading": round(baseline_packet / readings, 2),
        "ratio_to_baseline": round(per_reading[0] / (baseline_packet / readings), 3),
        "puback_bytes_per_batch": puback,
        "write_ack_packet_bytes_per_batch": ack_packet,
        "round_trip_bytes_per_reading": round(
            (packet + puback + ack_packet + puback) / readings, 2
        ),
        "keepalive_s": keepalive_s,
        "keepalive_bytes_per_day_plain": keepalive_plain,
        "keepalive_bytes_per_day_tls": keepalive_tls,
        "data_bytes_per_day_per_room": (packet + puback + ack_packet + puback) * 1440,
        **tls,
    }
    if tls.get("tls_measured"):
        overhead = tls["tls_record_overhead_bytes"]
        result["tls_bytes_per_reading"] = round((packet + overhead) / readings, 2)
        result["tls_data_bytes_per_day_per_room"] = (
            (packet + overhead) + (ack_packet + overhead) + 2 * (puback + overhead)
        ) * 1440
    return result
