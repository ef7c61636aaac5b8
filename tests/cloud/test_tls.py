"""MQTT over TLS (issue 10, item 16): a private Mosquitto with our config and a TLS
listener, certificates from a throwaway CA made here with the openssl CLI. The
gateway's session and an ingest worker connect with the CA file and a client
certificate; a wrong CA fails with an error that says so."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.db import Database
from cloud.ingest.worker import IngestWorker
from cloud.provisioning import service
from cloud.provisioning.mosquitto import TlsListener
from cloud.settings import Settings
from cloud.timeseries.sqlite import SqliteStore
from protocol.broker import BrokerUrl, TlsSetupError, tls_context
from tests.support.mosquitto import MosquittoBroker, start_broker
from tests.support.schema import migrate_async
from tests.support.services import free_port, missing


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
             "-subj", f"/CN=Dehong test {name}", cwd=d)  # fmt: skip


def _signed(d: Path, ca: str, name: str, san: str) -> None:
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)  # fmt: skip
    (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
             "-extfile", f"{name}.ext", cwd=d)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca (signs the broker and the clients), server (127.0.0.1), client, and an
    unrelated CA ``other``."""
    if shutil.which("openssl") is None:
        missing("openssl CLI not found (apt-get install openssl)")
    d = tmp_path_factory.mktemp("pki")
    _ca(d, "ca")
    _ca(d, "other")
    _signed(d, "ca", "server", "IP:127.0.0.1,DNS:localhost,DNS:mosquitto")
    _signed(d, "ca", "client", "DNS:gw-tls")
    return d


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Path) -> Iterator[MosquittoBroker]:
    listener = TlsListener(
        free_port(), pki / "ca.crt", pki / "server.crt", pki / "server.key",
        require_certificate=True, bind="127.0.0.1",
    )  # fmt: skip
    broker = start_broker(tmp_path / "tls-broker", tls=listener)
    try:
        yield broker
    finally:
        broker.stop()


def test_tls_context_errors_name_the_file(tmp_path: Path, pki: Path) -> None:
    with pytest.raises(TlsSetupError, match=r"mqtt\.tls CA file .*nope\.crt does not exist"):
        tls_context(tmp_path / "nope.crt", what="mqtt.tls")
    with pytest.raises(TlsSetupError, match="without its certificate"):
        tls_context(pki / "ca.crt", None, pki / "client.key")
    (tmp_path / "junk.crt").write_text("not a certificate\n")
    with pytest.raises(TlsSetupError, match="no usable certificate"):
        tls_context(tmp_path / "junk.crt")
    ctx = tls_context(pki / "ca.crt", pki / "client.crt", pki / "client.key")
    assert ctx.check_hostname


def test_settings_refuse_tls_files_with_a_plain_url(pki: Path) -> None:
    s = Settings(mqtt_url="mqtt://ingest:pw@broker:1883", mqtt_ca_file=pki / "ca.crt")
    with pytest.raises(ValueError, match="use mqtts://"):
        s.mqtt_broker()
    s = Settings(mqtt_url="mqtts://ingest:pw@broker", mqtt_ca_file=pki / "ca.crt")
    url = s.mqtt_broker()
    assert url.port == 8883 and url.ca_file == pki / "ca.crt" and url.ssl_context() is not None


@pytest.mark.mosquitto
@pytest.mark.slow
async def test_gateway_and_ingest_connect_over_tls_and_a_wrong_ca_is_named(
    tls_broker: MosquittoBroker, pki: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from dehong.stack import gateway_config
    from edge.gateway import Gateway

    broker = tls_broker
    assert broker.tls is not None
    url = f"sqlite:///{tmp_path / 'tls.db'}"
    await migrate_async(url)
    db = Database(url)
    settings = Settings(demo=True, mosquitto_dir=broker.dir, mosquitto_pid_file=broker.pid_file)
    tsdb = SqliteStore(tmp_path / "ts.db")
    await tsdb.open()
    try:
        ingest_pw = await service.ensure_service_account(
            db, "ingest-1", "ingest", settings=settings
        )
        gw, gw_pw = await service.provision_gateway(
            db, "533103", "TLS", gateway_id="gw-tls", settings=settings
        )
        assert ingest_pw
        port = broker.tls.port

        # ingest: mqtts:// with the CA and a client certificate (the listener demands one)
        worker = IngestWorker(
            db, tsdb,
            BrokerUrl("127.0.0.1", port, "ingest-1", ingest_pw, True, pki / "ca.crt",
                      pki / "client.crt", pki / "client.key"),
            rollup_interval_s=0,
        )  # fmt: skip
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(worker.connected.wait(), 10)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        def gateway(ca: Path, state: str) -> Gateway:
            cfg = gateway_config(
                gateway_id=gw.id, county="533103", site=gw.site,
                broker=BrokerUrl("127.0.0.1", port), password=gw_pw, modbus_port=free_port(),
                rooms=1, state_dir=tmp_path / state,
            )  # fmt: skip
            tls = {"enabled": True, "ca_file": ca, "cert_file": pki / "client.crt",
                   "key_file": pki / "client.key"}  # fmt: skip
            mqtt = cfg.mqtt.model_copy(update={"tls": cfg.mqtt.tls.model_copy(update=tls)})
            return Gateway(cfg.model_copy(update={"mqtt": mqtt}))

        # the gateway's session with the right CA
        good = gateway(pki / "ca.crt", "edge-good")
        run = asyncio.create_task(good.run())
        try:
            await good.wait_connected(10)
        finally:
            await good.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(run, 10)

        # and with a CA that did not sign the broker: refused, and the log says why
        caplog.set_level(logging.WARNING, logger="edge.session")
        bad = gateway(pki / "other.crt", "edge-bad")
        run = asyncio.create_task(bad.run())
        try:
            with pytest.raises(TimeoutError):
                await bad.wait_connected(3)
        finally:
            await bad.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(run, 10)
        text = caplog.text
        assert "TLS: the broker's certificate is not signed by the CA in" in text, text
        assert "other.crt" in text
    finally:
        await tsdb.close()
        await db.dispose()
