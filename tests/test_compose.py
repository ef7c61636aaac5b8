"""Static checks of what an operator deploys (issue 10, items 16, 23, 24, 29):
docker-compose.yml (health checks, healthy dependencies, pinned images, TLS only
outside loopback), the broker config, the InfluxDB template, and the docs that say
where the broker passwords come from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.servers import render_influx_conf
from cloud.provisioning.mosquitto import parse_conf

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
#: image:tag with at least major.minor in the tag (e.g. postgres:15.10, caddy:2.8.4)
PINNED = re.compile(r"^[a-z0-9./_-]+:\d+\.\d+(\.\d+)?([-.][a-z0-9.-]+)?$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"mosquitto", "influxdb", "postgres", "api", "proxy"} <= set(services)
    for name, svc in services.items():
        check = svc.get("healthcheck")
        assert check and check.get("test"), f"{name}: no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: {check['test']}"
        assert "interval" in check and "retries" in check, f"{name}: interval and retries"


def test_dependencies_wait_for_healthy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on must give conditions, not a list"
        for dep, cond in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert cond == {"condition": "service_healthy"}, f"{name} -> {dep}: {cond}"
    ingest = [n for n in services if n.startswith("ingest")]
    assert ingest, "no ingest service"
    for name in [*ingest, "api"]:
        assert {"postgres", "influxdb", "mosquitto"} <= set(services[name]["depends_on"]), name
    assert set(services["proxy"]["depends_on"]) == {"api"}


def test_images_pinned_to_a_minor_version(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        if "build" in svc:
            assert "image" not in svc or PINNED.match(svc["image"]), name
            continue
        image = svc["image"]
        assert PINNED.match(image), f"{name}: {image} is not pinned to a minor version"
    assert compose["services"]["influxdb"]["image"].startswith("influxdb:1.11")


def test_mqtt_is_tls_except_on_loopback(compose: dict[str, Any]) -> None:
    services = compose["services"]
    published = {p.split(":")[-1] for p in services["mosquitto"].get("ports", [])}
    assert published == {"8883"}, published
    for name, svc in services.items():
        url = (svc.get("environment") or {}).get("DEHONG_MQTT_URL")
        if url is not None:
            assert url.startswith("mqtts://") and ":8883" in url, f"{name}: {url}"
            assert svc["environment"]["DEHONG_MQTT_CA_FILE"], name
    # one broker account per ingest worker (the client id is the username)
    users = [
        re.match(r"mqtts://([^:]+):", svc["environment"]["DEHONG_MQTT_URL"]).group(1)  # type: ignore[union-attr]
        for svc in services.values()
        if "DEHONG_MQTT_URL" in (svc.get("environment") or {})
    ]
    assert len(users) == len(set(users)), users
    assert "replicas" not in str(services), "replicas would share one broker account"
    # the API is reached only through the TLS proxy
    assert "ports" not in services["api"]
    assert {"443:443"} <= set(services["proxy"]["ports"])
    caddyfile = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text()
    assert "reverse_proxy api:8080" in caddyfile and "tls " in caddyfile


def test_broker_config_listeners_and_client_ids() -> None:
    conf = parse_conf((ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text())
    assert sorted(conf["listener"]) == ["1883 127.0.0.1", "8883 0.0.0.0"]
    for key in ("cafile", "certfile", "keyfile"):
        assert conf[key] and conf[key][0].startswith("/mosquitto/certs/"), key
    assert conf["use_username_as_clientid"] == ["true"]
    assert conf["password_file"] == ["/dehong/broker/passwd"]


def test_influx_template_renders_distinct_ports(tmp_path: Path) -> None:
    template = (ROOT / "deploy" / "influxdb" / "influxdb.conf").read_text()
    binds = re.findall(r'^\s*bind-address\s*=\s*"([^"]+)"', template, re.M)
    assert len(binds) == 2 and all("@" in b for b in binds), binds  # nothing hard-coded
    a = render_influx_conf(tmp_path / "a", 18086, 18088)
    b = render_influx_conf(tmp_path / "b", 28086, 28088)

    def ports(conf: str) -> set[str]:
        return {b.rsplit(":", 1)[1] for b in re.findall(r'bind-address\s*=\s*"([^"]+)"', conf)}

    assert ports(a) == {"18086", "18088"} and ports(b) == {"28086", "28088"}
    assert not ports(a) & ports(b)
    services = (ROOT / "scripts" / "services.sh").read_text()
    assert "@RPC_PORT@" in services and "8088" not in services


def test_docs_say_where_broker_passwords_come_from() -> None:
    env = (ROOT / "deploy" / "env.example").read_text()
    assert "printed-by-dehong-cloud-init-db" not in env
    assert "service-account ensure" in env
    for doc in ("README.md", "deploy/README.md"):
        assert "service-account ensure" in (ROOT / doc).read_text(), doc
    compose_vars = set(re.findall(r"\$\{(DEHONG_[A-Z0-9_]+_MQTT_PASSWORD)", COMPOSE.read_text()))
    assert compose_vars and all(f"{v}=" in env for v in compose_vars), compose_vars


async def test_ingest_healthcheck_passes_with_a_metrics_token(compose: dict[str, Any]) -> None:
    """The ingest workers' /metrics answers 401 without DEHONG_METRICS_TOKEN (set for
    every cloud service in compose): the healthcheck must send it, or the containers
    would be marked unhealthy and restarted forever. Runs the check's own command
    against a real MetricsServer with a token."""
    import asyncio
    import os
    import sys

    from prometheus_client import CollectorRegistry

    from cloud.metrics.server import MetricsServer

    for name in ("ingest-1", "ingest-2"):
        svc = compose["services"][name]
        assert "DEHONG_METRICS_TOKEN" in svc["environment"], name
        cmd = svc["healthcheck"]["test"]
        assert cmd[:3] == ["CMD", "python", "-c"], cmd
    token = "scrape-" + "Zq3x8Lr2Kp7Wn4Vb9Ct6Hy1Gd5Fs0Ma"
    server = MetricsServer(CollectorRegistry(), "127.0.0.1", 0, token=token)
    await server.start()
    try:
        code = cmd[3].replace(":9108/", f":{server.port}/")
        env = {**os.environ, "DEHONG_METRICS_TOKEN": token}
        ok = await asyncio.create_subprocess_exec(sys.executable, "-c", code, env=env)
        assert await ok.wait() == 0, "the healthcheck fails with the token set"
        env["DEHONG_METRICS_TOKEN"] = "a-wrong-token"
        bad = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, env=env, stderr=asyncio.subprocess.DEVNULL
        )
        assert await bad.wait() != 0, "the healthcheck cannot fail: it checks nothing"
    finally:
        await server.stop()


def test_grafana_is_a_pinned_separate_service_with_our_provisioning(
    compose: dict[str, Any],
) -> None:
    """Issue 14: Grafana (AGPL) only as a service, provisioned from grafana/."""
    g = compose["services"]["grafana"]
    assert g["image"].startswith("grafana/grafana-oss:11.") and PINNED.match(g["image"])
    mounts = {v.split(":")[0]: v.split(":")[1] for v in g["volumes"] if v.startswith("./")}
    assert mounts == {
        "./grafana/provisioning": "/etc/grafana/provisioning",
        "./grafana/dashboards": "/var/lib/grafana/dashboards",
    }
    for local in mounts:
        assert (ROOT / local).is_dir(), local
    env = g["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${")
    plugin = env["GF_INSTALL_PLUGINS"].split()
    assert plugin[0] == "yesoreyeram-infinity-datasource" and re.match(
        r"^\d+\.\d+\.\d+$", plugin[1]
    )
    # the provisioning's ${VARS} are all set on the service
    text = (ROOT / "grafana/provisioning/datasources/dehong.yaml").read_text()
    for var in re.findall(r"\$\{([A-Z_]+)\}", text):
        assert var in env, var
    ports = g.get("ports", [])
    assert all(p.startswith("127.0.0.1:") for p in ports), (
        "Grafana is not published beyond loopback"
    )
    postgres = compose["services"]["postgres"]
    assert "./deploy/postgres/initdb:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    assert "DEHONG_PG_GRAFANA_PASSWORD" in (ROOT / "deploy/env.example").read_text()


def test_scheduled_jobs_run_and_only_api_and_jobs_hold_the_pii_key(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    jobs = services["jobs"]
    assert jobs["command"] == ["cloud", "jobs"]
    assert jobs["healthcheck"]["test"][-3:] == ["cloud", "jobs", "--check"]
    assert "DEHONG_JOBS_STATUS_FILE" in jobs["environment"]
    holders = {name for name, svc in services.items() if "pii_keys" in svc.get("secrets", [])}
    assert holders == {"api", "jobs"}
    assert compose["secrets"]["pii_keys"]["file"].startswith("./deploy/secrets/")
    for name in holders:
        assert services[name]["environment"]["DEHONG_PII_KEY_FILE"] == "/run/secrets/pii_keys"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "/deploy/secrets/" in ignored and "/deploy/notify.env" in ignored
