"""The demo's embedded broker enforces the same passwd/acl files as Mosquitto."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import aiomqtt
import pytest

from cloud.provisioning.mosquitto import verify_password
from dehong.embedded_broker import filter_matches, start_broker
from tests.support.services import free_port, missing


@pytest.fixture
def access_dir(tmp_path: Path) -> Path:
    if shutil.which("mosquitto_passwd") is None:
        missing("mosquitto_passwd not installed (apt-get install mosquitto)")
    (tmp_path / "passwd").touch()
    for user, pw in (("gw1", "secret1"), ("gw2", "secret2"), ("ingest", "ing")):
        subprocess.run(["mosquitto_passwd", "-b", str(tmp_path / "passwd"), user, pw], check=True)
    (tmp_path / "acl").write_text(
        "user gw1\ntopic write dh/v1/533103/gw1/data\ntopic read dh/v1/533103/gw1/ack\n"
        "topic write dh/v1/533103/gw1/birth\n"
        "user gw2\ntopic write dh/v1/533103/gw2/data\ntopic read dh/v1/533103/gw2/ack\n"
        "user ingest\ntopic read dh/v1/+/+/data\ntopic write dh/v1/+/+/ack\n"
        "topic read dh/v1/+/+/birth\n"
    )
    return tmp_path


def test_hash_verification_matches_mosquitto_passwd(access_dir: Path) -> None:
    line = (access_dir / "passwd").read_text().splitlines()[0]
    user, _, hashed = line.partition(":")
    assert user == "gw1"
    assert verify_password("secret1", hashed)  # the one $7$ verifier, shared with provisioning
    assert not verify_password("secret2", hashed)
    with pytest.raises(ValueError, match="not a Mosquitto"):
        verify_password("secret1", "$6$nonsense")
    with pytest.raises(ValueError, match="malformed"):
        verify_password("secret1", "$7$101$not base64!$x")


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


def _client(port: int, user: str, password: str, **kw: object) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", port, username=user, password=password, **kw)  # type: ignore[arg-type]


async def _gets(c: aiomqtt.Client, payload: bytes, timeout_s: float = 5) -> None:
    async with asyncio.timeout(timeout_s):
        async for m in c.messages:
            if m.payload == payload:
                return


async def test_gateway_cannot_take_another_gateways_session(access_dir: Path) -> None:
    """Mosquitto's use_username_as_clientid in the demo broker: the client id is the
    username, and a wrong password touches no session."""
    port = free_port()
    broker = await start_broker("127.0.0.1", port, access_dir)
    ack = "dh/v1/533103/gw1/ack"
    try:
        async with _client(port, "gw1", "secret1", identifier="gw1", clean_session=False) as a:
            await a.subscribe(ack, qos=1)
            # B, with its own password, as a persistent session under A's id
            async with _client(port, "gw2", "secret2", identifier="gw1", clean_session=False):
                # and someone without A's password, asking to wipe A's session
                with pytest.raises(aiomqtt.MqttError):
                    async with _client(port, "gw1", "guess", identifier="gw1", clean_session=True):
                        pass
                async with _client(port, "ingest", "ing", identifier="ingest") as ing:
                    await ing.publish(ack, b"for-a", qos=1)
                await _gets(a, b"for-a")  # A still holds its session and gets its acks
    finally:
        await broker.shutdown()


async def test_retained_messages_reach_only_their_subscribers(access_dir: Path) -> None:
    """amqtt sent every connecting client the retained messages of every subscription in
    the broker (anyone's): a gateway got births on a reconnect ("unexpected message on
    .../birth" in the demo), even other gateways' ones, past the ACL."""
    port = free_port()
    broker = await start_broker("127.0.0.1", port, access_dir)
    birth = "dh/v1/533103/gw1/birth"
    try:
        async with _client(port, "ingest", "ing", identifier="ingest") as ing:
            await ing.subscribe("dh/v1/+/+/birth", qos=1)
            async with _client(port, "gw1", "secret1", identifier="gw1", clean_session=False) as a:
                await a.subscribe("dh/v1/533103/gw1/ack", qos=1)
                await a.publish(birth, b"birth-1", qos=1, retain=True)
            await _gets(ing, b"birth-1")
            for user, pw in (("gw1", "secret1"), ("gw2", "secret2")):
                # a persistent session coming back, and another gateway's first connect
                async with _client(port, user, pw, identifier=user, clean_session=False) as c:
                    await c.subscribe(f"dh/v1/533103/{user}/ack", qos=1)
                    with pytest.raises(TimeoutError):
                        async with asyncio.timeout(1.0):
                            async for m in c.messages:
                                raise AssertionError(f"{user} got {m.topic}: {m.payload!r}")
        # a new subscriber to births still gets the retained one
        async with _client(port, "ingest", "ing", identifier="ingest") as ing:
            await ing.subscribe("dh/v1/+/+/birth", qos=1)
            await _gets(ing, b"birth-1")
    finally:
        await broker.shutdown()
