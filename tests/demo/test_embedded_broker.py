"""The demo's embedded broker enforces the same passwd/acl files as Mosquitto."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import aiomqtt
import pytest

from dehong.embedded_broker import filter_matches, start_broker, verify_mosquitto_hash
from tests.support.services import free_port, missing


@pytest.fixture
def access_dir(tmp_path: Path) -> Path:
    if shutil.which("mosquitto_passwd") is None:
        missing("mosquitto_passwd not installed (apt-get install mosquitto)")
    (tmp_path / "passwd").touch()
    for user, pw in (("gw1", "secret1"), ("ingest", "ing")):
        subprocess.run(["mosquitto_passwd", "-b", str(tmp_path / "passwd"), user, pw], check=True)
    (tmp_path / "acl").write_text(
        "user gw1\ntopic write dh/v1/533103/gw1/data\ntopic read dh/v1/533103/gw1/ack\n"
        "user ingest\ntopic read dh/v1/+/+/data\ntopic write dh/v1/+/+/ack\n"
    )
    return tmp_path


def test_hash_verification_matches_mosquitto_passwd(access_dir: Path) -> None:
    line = (access_dir / "passwd").read_text().splitlines()[0]
    user, _, hashed = line.partition(":")
    assert user == "gw1"
    assert verify_mosquitto_hash("secret1", hashed)
    assert not verify_mosquitto_hash("secret2", hashed)
    assert not verify_mosquitto_hash("secret1", "$6$nonsense")


@pytest.mark.parametrize(
    ("pattern", "topic", "ok"),
    [
        ("dh/v1/+/+/data", "dh/v1/533103/gw1/data", True),
        ("dh/v1/+/+/data", "dh/v1/+/+/data", True),
        ("dh/v1/+/+/data", "dh/v1/#", False),
        ("dh/v1/533103/gw1/data", "dh/v1/533103/gw2/data", False),
        ("dh/v1/#", "dh/v1/533103/gw1/cmd/ack", True),
        ("dh/v1/533103/gw1/cmd", "dh/v1/533103/gw1/cmd/ack", False),
    ],
)
def test_filter_matching(pattern: str, topic: str, ok: bool) -> None:
    assert filter_matches(pattern, topic) is ok


async def test_credentials_and_acl_are_enforced(access_dir: Path) -> None:
    port = free_port()
    broker = await start_broker("127.0.0.1", port, access_dir)
    try:
        async with aiomqtt.Client("127.0.0.1", port, username="ingest", password="ing") as ing:
            await ing.subscribe("dh/v1/+/+/data", qos=1)
            async with aiomqtt.Client("127.0.0.1", port, username="gw1", password="secret1") as gw:
                await gw.publish("dh/v1/533103/gw1/data", b"mine", qos=1)
                await gw.publish("dh/v1/533103/gw2/data", b"spoofed", qos=1)
                await gw.publish("dh/v1/533103/gw1/data", b"last", qos=1)
            got = []
            async with asyncio.timeout(5):
                async for m in ing.messages:
                    got.append(bytes(m.payload))
                    if m.payload == b"last":
                        break
        assert got == [b"mine", b"last"]
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", port, username="gw1", password="wrong"):
                pass
    finally:
        await broker.shutdown()
