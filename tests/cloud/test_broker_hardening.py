"""The broker's side of security (issue 10, items 9, 10, 25): revocation reaches the
broker in every deployment, a gateway cannot take another's session, and a broker
that drops to its own user can read the files provisioning writes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from cloud.auth.principal import Role
from cloud.db import Database
from cloud.devices.storage import Gateway
from cloud.ingest.registry import Registry
from cloud.provisioning import service
from cloud.settings import Settings
from tests.support.api import HOME, api_env
from tests.support.mosquitto import MosquittoBroker, start_broker
from tests.support.schema import migrate_async
from tests.support.services import missing


@pytest.fixture
async def prov_db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite:///{tmp_path / 'prov.db'}"
    await migrate_async(url)
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def agent_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A private Mosquitto started the way docker-compose starts it: through the
    reload agent (deploy/mosquitto/run.sh), with no pid file for the cloud."""
    broker = start_broker(tmp_path / "agent-broker", agent=True)
    try:
        yield broker
    finally:
        broker.stop()


def client(broker: MosquittoBroker, user: str, password: str, **kw: object) -> aiomqtt.Client:
    return aiomqtt.Client(broker.host, broker.port, username=user, password=password, **kw)  # type: ignore[arg-type]


async def wait_disconnected(c: aiomqtt.Client, timeout_s: float) -> None:
    """Return once the broker has closed ``c``'s connection (fail after ``timeout_s``)."""
    async with asyncio.timeout(timeout_s):
        with pytest.raises(aiomqtt.MqttError):
            async for _m in c.messages:
                pass


# ------------------------------------------------------------ item 9: revoke


@pytest.mark.mosquitto
async def test_revoke_disconnects_gateway_through_the_reload_agent(
    agent_broker: MosquittoBroker, prov_db: Database
) -> None:
    broker = agent_broker
    settings = Settings(demo=True, mosquitto_dir=broker.dir)  # no pid file: the agent
    gw, pw = await service.provision_gateway(
        prov_db, "533103", "A", gateway_id="gw-a", settings=settings
    )
    other, other_pw = await service.provision_gateway(
        prov_db, "533103", "B", gateway_id="gw-b", settings=settings
    )
    async with (
        client(broker, gw.id, pw, identifier=gw.id) as a,
        client(broker, other.id, other_pw, identifier=other.id) as b,
    ):
        await a.subscribe(f"dh/v1/533103/{gw.id}/ack", qos=1)
        await service.revoke_gateway(prov_db, gw.id, settings=settings)
        await wait_disconnected(a, 10)  # the live session ends, not only new logins
        await b.publish(f"dh/v1/533103/{other.id}/health", b"{}", qos=1)  # B unaffected
    with pytest.raises(aiomqtt.MqttError):
        async with client(broker, gw.id, pw, identifier=gw.id):
            pass


async def test_revoke_answers_503_when_the_broker_was_not_updated(tmp_path: Path) -> None:
    async with api_env("sqlite", tmp_path) as env:
        # a deployment with neither a reload agent nor a pid file to signal
        env.app.state.settings = env.settings.model_copy(update={"mosquitto_reload": "auto"})
        h = await env.headers(Role.PREFECTURE_ADMIN, "533100")
        r = await env.client.post("/api/v1/gateways/gw-m1/revoke", headers=h)
        assert r.status_code == 503, r.text
        detail = r.json()["detail"]
        assert "broker was not updated" in detail and "reload.fifo" in detail, detail
        assert "ingest refuses" in detail  # what did take effect
        async with env.db.session() as s:
            gw = await s.get(Gateway, "gw-m1")
            assert gw is not None and gw.revoked_at is not None
        # with the broker reachable again the same call succeeds (idempotent retry)
        env.app.state.settings = env.settings
        r = await env.client.post("/api/v1/gateways/gw-m1/revoke", headers=h)
        assert r.status_code == 200 and r.json()["status"] == "revoked"
        assert (env.settings.mosquitto_dir / "passwd").exists()
        assert HOME == "533103"


async def test_ingest_rereads_revocations_within_its_bound(prov_db: Database) -> None:
    assert Registry(prov_db).max_age_s <= 10  # the promise: revocation bites within 10 s
    gw, _pw = await service.provision_gateway(prov_db, "533103", "A", gateway_id="gw-a")
    registry = Registry(prov_db, max_age_s=0.2)
    known = await registry.gateway(gw.id)
    assert known is not None and not known.revoked
    await service.revoke_gateway(prov_db, gw.id)  # another process (the API) revokes it
    await asyncio.sleep(0.25)
    known = await registry.gateway(gw.id)
    assert known is not None and known.revoked


# ------------------------------------------------------- item 10: client ids


@pytest.mark.mosquitto
async def test_gateway_cannot_take_another_gateways_session(
    mosquitto_broker: MosquittoBroker, prov_db: Database
) -> None:
    broker = mosquitto_broker
    settings = Settings(demo=True, mosquitto_dir=broker.dir, mosquitto_pid_file=broker.pid_file)
    api_pw = await service.ensure_service_account(prov_db, "api", "api", settings=settings)
    a, a_pw = await service.provision_gateway(
        prov_db, "533103", "A", gateway_id="gw-a", settings=settings
    )
    b, b_pw = await service.provision_gateway(
        prov_db, "533103", "B", gateway_id="gw-b", settings=settings
    )
    assert api_pw
    cmd_a = f"dh/v1/533103/{a.id}/cmd"
    async with client(broker, a.id, a_pw, identifier=a.id, clean_session=False) as ga:
        await ga.subscribe(cmd_a, qos=1)
        # B logs in with its own password but A's client id, as a persistent session
        async with client(broker, b.id, b_pw, identifier=a.id, clean_session=False) as gb:
            await gb.subscribe(f"dh/v1/533103/{b.id}/cmd", qos=1)
            async with client(broker, "api", api_pw, identifier="api") as api:
                await api.publish(cmd_a, b"for-a", qos=1)
            async with asyncio.timeout(5):
                async for m in ga.messages:  # A was not kicked off: it still gets its commands
                    assert m.payload == b"for-a"
                    break


# ------------------------------------------- item 25: the broker's own user


@pytest.mark.mosquitto
async def test_broker_running_as_mosquitto_reads_provisioned_files(prov_db: Database) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: Mosquitto drops to its user only when started as root")
    try:
        import grp
        import pwd

        pwd.getpwnam("mosquitto")
        grp.getgrnam("mosquitto")
    except KeyError:
        missing("no mosquitto user/group: install Debian's mosquitto package")
    # Not under pytest's tmp_path (0700 root): a deployment's parents are traversable,
    # its mosquitto_dir is private to the broker's group.
    root = Path(tempfile.mkdtemp(prefix="dehong-broker-user-", dir="/tmp"))
    os.chmod(root, 0o755)
    broker = MosquittoBroker(root, shutil.which("mosquitto") or "/usr/sbin/mosquitto")
    broker.run_as = "mosquitto"
    os.chmod(broker.root, 0o755)
    broker.data_dir.mkdir(parents=True)
    shutil.chown(broker.data_dir, "mosquitto", "mosquitto")
    settings = Settings(
        demo=True, mosquitto_dir=broker.dir, mosquitto_pid_file=broker.pid_file,
        mosquitto_group="mosquitto",
    )  # fmt: skip
    try:
        gw, pw = await service.provision_gateway(
            prov_db, "533103", "A", gateway_id="gw-a", settings=settings
        )
        mode = (broker.dir / "passwd").stat().st_mode & 0o777
        assert mode == 0o640, oct(mode)  # never world-readable
        assert (broker.dir.stat().st_mode & 0o007) == 0  # the directory is private
        broker.start()
        async with client(broker, gw.id, pw, identifier=gw.id) as c:
            await c.publish(f"dh/v1/533103/{gw.id}/health", b"{}", qos=1)
    finally:
        with contextlib.suppress(Exception):
            broker.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_reload_failures_say_why(tmp_path: Path) -> None:
    from cloud.provisioning.mosquitto import BrokerNotReloaded, reload_broker

    with pytest.raises(BrokerNotReloaded, match="nothing told the broker"):
        await reload_broker("auto", tmp_path, None)
    with pytest.raises(BrokerNotReloaded, match=r"pid file .* does not exist"):
        await reload_broker("signal", tmp_path, tmp_path / "none.pid")
    with pytest.raises(BrokerNotReloaded, match="does not exist"):
        await reload_broker("agent", tmp_path, None)
    os.mkfifo(tmp_path / "reload.fifo")  # an agent that died: its FIFO is left behind
    with pytest.raises(BrokerNotReloaded, match="no reload agent is listening"):
        await reload_broker("auto", tmp_path, None)
    # an agent that takes the request but never confirms
    fd = os.open(tmp_path / "reload.fifo", os.O_RDWR | os.O_NONBLOCK)
    try:
        with pytest.raises(BrokerNotReloaded, match=r"did not confirm within 0\.2 s"):
            await reload_broker("agent", tmp_path, None, timeout_s=0.2)
    finally:
        os.close(fd)
    assert await reload_broker("watch", tmp_path, None) == "the broker watches its files"
