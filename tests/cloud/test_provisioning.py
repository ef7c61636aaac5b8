"""Provisioning against a real Mosquitto: hashes, the shared config, and the ACL."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

import dehong.cli
from cloud.db import Database
from cloud.provisioning import service
from cloud.provisioning.mosquitto import (
    hash_password,
    parse_conf,
    render_mosquitto_conf,
    settings_of,
    verify_password,
)
from cloud.settings import Settings, get_settings
from tests.support.mosquitto import MosquittoBroker
from tests.support.schema import migrate_async
from tests.support.services import missing

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"


# ------------------------------------------------------------------ hashes


def test_hash_is_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        missing("mosquitto_passwd not found; install mosquitto")
    assert tool is not None
    path = tmp_path / "passwd"
    subprocess.run([tool, "-c", "-b", str(path), "u1", "s3cret-Pw"], check=True)
    user, hashed = path.read_text().strip().split(":", 1)
    assert user == "u1"
    assert verify_password("s3cret-Pw", hashed)
    assert not verify_password("s3cret-pw", hashed)
    salt = base64.b64decode(hashed.split("$")[3])
    assert hash_password("s3cret-Pw", salt=salt) == hashed  # byte for byte


def test_deploy_conf_and_render_agree(tmp_path: Path) -> None:
    deployed = parse_conf(DEPLOY_CONF.read_text())
    rendered = parse_conf(
        render_mosquitto_conf(
            18830, tmp_path, tmp_path / "passwd", tmp_path / "acl", tmp_path / "pid"
        )
    )
    assert settings_of(deployed) == settings_of(rendered)
    # and they are the settings we promise
    s = settings_of(rendered)
    assert s["per_listener_settings"] == ["false"]
    assert s["allow_anonymous"] == ["false"]
    assert s["persistence"] == ["true"]
    assert int(s["message_size_limit"][0]) > 256 * 1024
    for key in ("listener", "password_file", "acl_file", "persistence_location"):
        assert key in deployed and key in rendered, key


# ------------------------------------------------------------ broker ACL


@dataclass
class Client:
    """A paho client that records what it receives."""

    client: mqtt.Client
    connected: threading.Event = field(default_factory=threading.Event)
    reason: object = None
    received: list[tuple[str, bytes]] = field(default_factory=list)
    got: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, topic: str, payload: bytes, timeout: float = 5.0) -> bool:
        with self.got:
            return self.got.wait_for(lambda: (topic, payload) in self.received, timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(broker: MosquittoBroker, username: str, password: str) -> Client:
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{username}-{time.monotonic_ns()}"
    )
    box = Client(c)

    def on_connect(_c, _u, _flags, reason_code, _props) -> None:  # type: ignore[no-untyped-def]
        box.reason = reason_code
        box.connected.set()

    def on_message(_c, _u, msg) -> None:  # type: ignore[no-untyped-def]
        with box.got:
            box.received.append((msg.topic, msg.payload))
            box.got.notify_all()

    c.on_connect = on_connect
    c.on_message = on_message
    c.username_pw_set(username, password)
    c.connect(broker.host, broker.port, keepalive=10)
    c.loop_start()
    box.connected.wait(5)
    return box


def refused(broker: MosquittoBroker, username: str, password: str) -> bool:
    c = connect(broker, username, password)
    try:
        return c.reason is not None and c.reason.is_failure  # type: ignore[attr-defined]
    finally:
        c.close()


def connect_ok(broker: MosquittoBroker, username: str, password: str) -> Client:
    """Connect, retrying briefly: the broker rereads its files after SIGHUP asynchronously."""
    deadline = time.monotonic() + 5
    while True:
        c = connect(broker, username, password)
        if c.reason is not None and not c.reason.is_failure:  # type: ignore[attr-defined]
            return c
        c.close()
        if time.monotonic() > deadline:
            raise AssertionError(f"{username} refused: {c.reason}; log: {broker.log()[-1500:]}")
        time.sleep(0.05)


def sub(c: Client, topic: str) -> None:
    done = threading.Event()
    c.client.on_subscribe = lambda *_a: done.set()
    c.client.subscribe(topic, qos=1)
    assert done.wait(5), f"no SUBACK for {topic}"


def pub(c: Client, topic: str, payload: bytes) -> None:
    info = c.client.publish(topic, payload, qos=1)
    info.wait_for_publish(5)


@pytest.fixture
async def prov_db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite:///{tmp_path / 'prov.db'}"
    await migrate_async(url)
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.mark.mosquitto
async def test_broker_enforces_gateway_acl(
    mosquitto_broker: MosquittoBroker, prov_db: Database
) -> None:
    broker = mosquitto_broker
    settings = Settings(demo=True, mosquitto_dir=broker.dir, mosquitto_pid_file=broker.pid_file)
    ingest_pw = await service.ensure_service_account(
        prov_db, "cloud-ingest", "ingest", settings=settings
    )
    api_pw = await service.ensure_service_account(prov_db, "cloud-api", "api", settings=settings)
    assert ingest_pw and api_pw
    assert await service.ensure_service_account(prov_db, "cloud-api", "api") is None
    a, a_pw = await service.provision_gateway(
        prov_db, "533103", "A", gateway_id="gw-a", settings=settings
    )
    b, b_pw = await service.provision_gateway(
        prov_db, "533103", "B", gateway_id="gw-b", settings=settings
    )
    c, c_pw = await service.provision_gateway(
        prov_db, "533124", "C", gateway_id="gw-c", settings=settings
    )

    ingest = connect_ok(broker, "cloud-ingest", ingest_pw)
    api = connect_ok(broker, "cloud-api", api_pw)
    ga = connect_ok(broker, "gw-a", a_pw)
    gb = connect_ok(broker, "gw-b", b_pw)
    clients = [ingest, api, ga, gb]
    try:
        sub(ingest, "dh/v1/+/+/data")
        # A publishes on its own data topic: delivered.
        pub(ga, "dh/v1/533103/gw-a/data", b"own")
        assert ingest.wait_for("dh/v1/533103/gw-a/data", b"own")
        # A publishes as B (same county) and as C (other county): never delivered.
        pub(ga, "dh/v1/533103/gw-b/data", b"spoof-b")
        pub(ga, "dh/v1/533124/gw-c/data", b"spoof-c")
        pub(ga, "dh/v1/533103/gw-a/data", b"marker")  # same connection, sent after
        assert ingest.wait_for("dh/v1/533103/gw-a/data", b"marker")
        payloads = [p for _t, p in ingest.received]
        assert b"spoof-b" not in payloads and b"spoof-c" not in payloads

        # A tries to read B's commands; only B gets them.
        sub(ga, "dh/v1/533103/gw-b/cmd")
        sub(ga, "dh/v1/#")
        sub(ga, "dh/v1/533103/gw-a/cmd")
        sub(gb, "dh/v1/533103/gw-b/cmd")
        pub(api, "dh/v1/533103/gw-b/cmd", b"cmd-for-b")
        assert gb.wait_for("dh/v1/533103/gw-b/cmd", b"cmd-for-b")
        pub(api, "dh/v1/533103/gw-a/cmd", b"cmd-for-a")
        assert ga.wait_for("dh/v1/533103/gw-a/cmd", b"cmd-for-a")
        assert all(t.startswith("dh/v1/533103/gw-a/") for t, _p in ga.received), ga.received
        # A does not see the other gateways' data either, despite "dh/v1/#".
        pub(gb, "dh/v1/533103/gw-b/data", b"b-data")
        assert ingest.wait_for("dh/v1/533103/gw-b/data", b"b-data")
        pub(api, "dh/v1/533103/gw-a/cmd", b"cmd-for-a-2")
        assert ga.wait_for("dh/v1/533103/gw-a/cmd", b"cmd-for-a-2")
        assert (("dh/v1/533103/gw-b/data", b"b-data")) not in ga.received
    finally:
        for cl in clients:
            cl.close()

    # wrong password, unknown user
    assert refused(broker, "gw-a", a_pw + "x")
    assert refused(broker, "nobody", "whatever")
    # revoke B: files regenerated, broker reloaded (SIGHUP via the pid file)
    await service.revoke_gateway(prov_db, "gw-b", settings=settings)
    deadline = time.monotonic() + 5
    while not refused(broker, "gw-b", b_pw):
        assert time.monotonic() < deadline, "revoked gateway still accepted"
        await asyncio.sleep(0.05)
    connect_ok(broker, "gw-c", c_pw).close()  # the others are unaffected
    assert "gw-b" not in (broker.dir / "passwd").read_text()
    assert "gw-b" not in (broker.dir / "acl").read_text()
    # owner-only, or readable by the broker's group (DEHONG_MOSQUITTO_GROUP); never by others
    assert (broker.dir / "passwd").stat().st_mode & 0o777 in (0o600, 0o640)
    assert a.id == "gw-a" and b.id == "gw-b" and c.county == "533124"


@pytest.mark.mosquitto
def test_cli_gateway_add(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mosquitto_broker: MosquittoBroker,
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DEHONG_DATABASE_URL", url)
    monkeypatch.setenv("DEHONG_MOSQUITTO_DIR", str(mosquitto_broker.dir))
    monkeypatch.setenv("DEHONG_MOSQUITTO_PID_FILE", str(mosquitto_broker.pid_file))
    # Only the cloud's sub-commands: this test must not depend on the other parts.
    monkeypatch.setattr(dehong.cli, "PARTS", (("cloud.cli", "dehong[cloud]"),))
    get_settings.cache_clear()
    try:

        def run(*argv: str) -> tuple[int, str]:
            with pytest.raises(SystemExit) as exit_info:
                dehong.cli.main(list(argv))
            out = capsys.readouterr()
            return int(exit_info.value.code or 0), out.out + out.err

        code, out = run("cloud", "gateway", "add", "--county", "533103", "--name", "x")
        assert code == 2 and "init-db" in out
        code, out = run("cloud", "init-db")
        assert code == 0, out
        # init-db makes no broker account: it says which command does
        assert "service-account ensure --name api --role api" in out
        assert run("cloud", "init-db")[0] == 0  # idempotent
        code, out = run(
            "cloud", "gateway", "add", "--county", "533103", "--name", "Mangshi Coffee No.1"
        )
        assert code == 0, out
        fields = dict(line.split(":", 1) for line in out.splitlines() if line.startswith("mqtt "))
        username, password = fields["mqtt username"].strip(), fields["mqtt password"].strip()
        assert username == "mangshi-coffee-no-1"
        connect_ok(mosquitto_broker, username, password).close()
        code, out = run("cloud", "gateway", "add", "--county", "999999", "--name", "x")
        assert code == 2 and "unknown county" in out
        code, out = run("cloud", "gateway", "list")
        assert code == 0 and "mangshi-coffee-no-1" in out and "never_seen" in out
        code, out = run(
            "cloud", "apikey", "add", "--name", "erp", "--role", "operator", "--county", "533103"
        )
        assert code == 0 and "dhk_" in out
        code, out = run(
            "cloud",
            "user",
            "add",
            "--username",
            "root-admin",
            "--role",
            "prefecture_admin",
            "--county",
            "533100",
        )
        assert code == 0 and "password:" in out
    finally:
        get_settings.cache_clear()
