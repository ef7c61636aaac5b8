"""edge/deploy: the install script is valid bash, the unit runs commands that exist, and the
sample config the installer copies validates after its edits."""

from __future__ import annotations

import configparser
import shlex
import subprocess
from pathlib import Path

from dehong.cli import build_parser
from edge.config import load_config

DEPLOY = Path(__file__).resolve().parents[2] / "edge" / "deploy"


def test_install_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(DEPLOY / "install.sh")], check=True)


def read_unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / name).read_text().replace("\\\n", " "))
    return unit


def test_unit_runs_existing_commands() -> None:
    service = read_unit("dehong-edge.service")["Service"]
    assert service["Restart"] == "always" and service["KillSignal"] == "SIGTERM"
    for key in ("ExecStartPre", "ExecStart"):
        argv = shlex.split(service[key])
        # the release that the self-update's `current` link points at
        assert argv[0] == "/opt/dehong/current/venv/bin/dehong"
        build_parser().parse_args(argv[1:])  # exits on an unknown command


def test_self_update_units_run_existing_commands() -> None:
    for name, action in (
        ("dehong-gateway-update.service", "apply-incoming"),
        ("dehong-gateway-update-resume.service", "resume"),
    ):
        service = read_unit(name)["Service"]
        assert service["Type"] == "oneshot"
        argv = shlex.split(service["ExecStart"])
        assert argv[0] == "/opt/dehong/current/venv/bin/dehong"
        args = build_parser().parse_args(argv[1:])
        assert (args.su_command, str(args.root)) == (action, "/opt/dehong")
        assert args.trial_s == 600 and args.healthy_s == 60
    path = read_unit("dehong-gateway-update.path")["Path"]
    assert path["Unit"] == "dehong-gateway-update.service"
    assert path["PathExistsGlob"] == str(args.incoming) + "/*.tar"


def test_installed_sample_config_validates(tmp_path: Path) -> None:
    sample = (DEPLOY.parent / "gateway.sample.yaml").read_text()
    edited = sample.replace(
        "# password_file: /etc/dehong/gateway.password",
        f"password_file: {tmp_path / 'pw'}",
    )
    assert edited != sample
    path = tmp_path / "gateway.yaml"
    path.write_text(edited)
    cfg = load_config(path)
    assert cfg.clock.trusted_when == "synced" and cfg.mqtt.password_file == tmp_path / "pw"
