"""Item 12: placeholder and low-entropy secrets are refused at start-up."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from cloud.app import InsecureSettingsError, create_app
from cloud.settings import DEMO_JWT_SECRET, Settings

ROOT = Path(__file__).resolve().parents[2]


def _env_example() -> dict[str, str]:
    text = (ROOT / "deploy" / "env.example").read_text()
    return dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path}/x.db", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "secret",
    [
        _env_example()["DEHONG_JWT_SECRET"],  # the shipped placeholder
        "change-me-change-me-change-me-change-me",
        "replace-with-a-long-random-secret-please",
        "a" * 64,  # long, one character
        "0123456789abcdef" * 4,  # long, periodic
        "passwordpasswordpassword1234567890",
        "short-but-random-" + secrets.token_hex(4),  # shorter than 32
    ],
)
def test_weak_jwt_secret_refused_with_how_to(tmp_path: Path, secret: str) -> None:
    with pytest.raises(InsecureSettingsError) as err:
        create_app(_settings(tmp_path, jwt_secret=secret))
    message = str(err.value)
    assert "DEHONG_JWT_SECRET" in message
    assert "secrets.token_urlsafe(48)" in message  # says how to make one


def test_weak_secret_refused_in_demo_mode_too(tmp_path: Path) -> None:
    # Demo mode allows the marked demo default, not any weak value.
    with pytest.raises(InsecureSettingsError):
        create_app(_settings(tmp_path, jwt_secret="a" * 64, demo=True))
    create_app(_settings(tmp_path, jwt_secret=DEMO_JWT_SECRET, demo=True))


@pytest.mark.parametrize(
    "make",
    [
        lambda: secrets.token_urlsafe(48),
        lambda: secrets.token_hex(32),
        lambda: secrets.token_urlsafe(24),
    ],
)
def test_generated_secrets_pass(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    from cloud.auth.secret_check import check_secret

    create_app(_settings(tmp_path, jwt_secret=make()))
    for _ in range(2000):
        check_secret("DEHONG_JWT_SECRET", make())


def test_placeholder_passwords_in_urls_refused(tmp_path: Path) -> None:
    env = _env_example()
    good = secrets.token_urlsafe(48)
    pg = env["POSTGRES_PASSWORD"]
    with pytest.raises(InsecureSettingsError, match="DEHONG_DATABASE_URL"):
        create_app(
            Settings(database_url=f"postgresql://dehong:{pg}@db:5432/dehong", jwt_secret=good)
        )
    mqtt = env["DEHONG_API_MQTT_PASSWORD"]
    with pytest.raises(InsecureSettingsError, match=re.escape("DEHONG_MQTT_URL")):
        create_app(_settings(tmp_path, jwt_secret=good, mqtt_url=f"mqtt://api:{mqtt}@b:1883"))
    with pytest.raises(InsecureSettingsError, match="DEHONG_INFLUX_PASSWORD"):
        create_app(_settings(tmp_path, jwt_secret=good, influx_password="change-me"))


@pytest.mark.timeout(30)  # without the check the worker runs (and reconnects) forever
async def test_ingest_refuses_placeholders_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cloud.ingest.worker import main

    env = _env_example()
    settings = _settings(
        tmp_path,
        mqtt_url=f"mqtt://ingest-1:{env['DEHONG_INGEST_1_MQTT_PASSWORD']}@127.0.0.1:1",
        ingest_metrics_port=-1,
    )
    assert await main(settings) == 2
    assert "DEHONG_MQTT_URL" in capsys.readouterr().err
    settings = _settings(tmp_path, ingest_metrics_host="0.0.0.0", ingest_metrics_port=0)
    assert await main(settings) == 2
    assert "DEHONG_METRICS_TOKEN" in capsys.readouterr().err
