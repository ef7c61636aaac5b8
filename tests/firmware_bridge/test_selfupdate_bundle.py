"""Release bundles: built and signed by ``dehong fw bundle``; every bad one refused by name,
before anything is installed."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from dehong.cli import main as dehong_main
from edge.config import parse_config
from firmware_bridge.selfupdate.bundle import (
    BundleError,
    build_bundle,
    default_target,
    extract_wheels,
    listing_sha256,
    verify_bundle,
)
from firmware_bridge.selfupdate.install import InstallError
from firmware_bridge.selfupdate.layout import Layout
from firmware_bridge.selfupdate.updater import Policy, SelfUpdater, UpdateRefused
from firmware_bridge.signing import (
    DigestError,
    DowngradeError,
    Manifest,
    SignatureError,
    WrongTargetError,
    generate_keypair,
    save_private_key,
    save_public_key,
    sign_manifest,
)
from tests.firmware_bridge.selfupdate_support import make_release_wheel

TARGET = "gateway-aarch64"


@pytest.fixture
def keys() -> tuple[bytes, bytes]:
    return generate_keypair()


def bundle_of(tmp: Path, private: bytes, version: str = "1.2.0", **kw: object) -> Path:
    wheels = tmp / f"w-{version}"
    make_release_wheel(wheels, version)
    (wheels / "pip-23.2.1-py3-none-any.whl").write_bytes(b"not really pip, only bytes")
    out = tmp / f"b-{version}.tar"
    build_bundle(private, wheels, out, version=version, target=TARGET, **kw)  # type: ignore[arg-type]
    return out


def verify(bundle: Path, public: bytes, installed: str | None = "1.0.0") -> Manifest:
    return verify_bundle(bundle, [public], expected_target=TARGET, installed_version=installed)


def members(bundle: Path) -> dict[str, bytes]:
    with tarfile.open(bundle) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


def rewrite(bundle: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> None:
    with tarfile.open(bundle, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)


def test_a_good_bundle_verifies_and_its_wheels_extract(tmp_path: Path, keys: tuple) -> None:
    private, public = keys
    bundle = bundle_of(tmp_path, private)
    m = verify(bundle, public)
    assert (m.kind, m.target, m.version) == ("gateway-release", TARGET, "1.2.0")
    assert m.files is not None and len(m.files) == 2
    assert m.sha256 == listing_sha256(m.files)
    opened = extract_wheels(bundle, m, tmp_path / "x")
    assert [w.name for w in opened.wheels] == sorted(m.files)
    assert sum(w.stat().st_size for w in opened.wheels) == m.size


def test_a_tampered_wheel_is_refused_naming_it(tmp_path: Path, keys: tuple) -> None:
    private, public = keys
    bundle = bundle_of(tmp_path, private)
    files = members(bundle)
    name = next(n for n in files if n.startswith("wheels/pip-"))
    files[name] = files[name].replace(b"only", b"ONLY")  # same size, other bytes
    rewrite(bundle, files)
    m = verify(bundle, public)  # the manifest itself is intact
    with pytest.raises(DigestError, match=r"wheels/pip-23\.2\.1-py3-none-any\.whl: SHA-256"):
        extract_wheels(bundle, m, tmp_path / "x")


def test_a_wheel_added_or_removed_after_signing_is_refused(tmp_path: Path, keys: tuple) -> None:
    private, public = keys
    bundle = bundle_of(tmp_path, private)
    files = members(bundle)
    rewrite(bundle, {**files, "wheels/evil-1.0-py3-none-any.whl": b"x"})
    with pytest.raises(
        BundleError, match=re.escape("evil-1.0-py3-none-any.whl: not named by the signed")
    ):
        extract_wheels(bundle, verify(bundle, public), tmp_path / "x")
    dropped = {k: v for k, v in files.items() if not k.startswith("wheels/pip-")}
    rewrite(bundle, dropped)
    with pytest.raises(BundleError, match=re.escape("signed wheel(s) missing: pip-23.2.1")):
        extract_wheels(bundle, verify(bundle, public), tmp_path / "y")


def test_links_and_paths_outside_wheels_are_refused(tmp_path: Path, keys: tuple) -> None:
    private, public = keys
    bundle = bundle_of(tmp_path, private)
    files = members(bundle)
    rewrite(bundle, files, links={"wheels/x.whl": "/etc/passwd"})
    with pytest.raises(BundleError, match="not a regular file"):
        extract_wheels(bundle, verify(bundle, public), tmp_path / "x")
    wheel = next(n for n in files if n.startswith("wheels/dehong"))
    moved = {("../" + k if k == wheel else k): v for k, v in files.items()}
    rewrite(bundle, moved)
    with pytest.raises(BundleError, match=r"\.\./wheels/.*not named by the signed manifest"):
        extract_wheels(bundle, verify(bundle, public), tmp_path / "z")


def test_wrong_signature_wrong_target_downgrade_are_refused(tmp_path: Path, keys: tuple) -> None:
    private, public = keys
    bundle = bundle_of(tmp_path, private)
    _, stranger = generate_keypair()
    with pytest.raises(SignatureError, match="does not verify"):
        verify(bundle, stranger)
    with pytest.raises(WrongTargetError, match=r"gateway-aarch64.*gateway-x86_64"):
        verify_bundle(bundle, [public], expected_target="gateway-x86_64", installed_version="1.0.0")
    with pytest.raises(DowngradeError, match=re.escape("1.2.0 is older than the installed 1.3.0")):
        verify(bundle, public, installed="1.3.0")
    signed_down = bundle_of(tmp_path, private, "1.1.0", allow_downgrade=True)
    assert verify(signed_down, public, installed="1.3.0").version == "1.1.0"


def test_a_changed_manifest_breaks_the_signature(tmp_path: Path, keys: tuple) -> None:
    private, public = keys
    bundle = bundle_of(tmp_path, private)
    files = members(bundle)
    raw = json.loads(files["manifest.json"])
    raw["allow_downgrade"] = True
    files["manifest.json"] = Manifest(**raw).to_bytes()
    rewrite(bundle, files)
    with pytest.raises(SignatureError):
        verify(bundle, public, installed="9.0")


def test_a_signed_manifest_whose_listing_does_not_match_is_refused(
    tmp_path: Path, keys: tuple
) -> None:
    private, public = keys
    bundle = bundle_of(tmp_path, private)
    files = members(bundle)
    raw = json.loads(files["manifest.json"])
    raw["sha256"] = "0" * 64
    m = Manifest(**raw)
    files["manifest.json"], files["manifest.sig"] = m.to_bytes(), sign_manifest(private, m)
    rewrite(bundle, files)
    with pytest.raises(BundleError, match=re.escape("manifest.sha256: does not match")):
        verify(bundle, public)


def test_a_node_image_manifest_is_not_a_gateway_release(tmp_path: Path, keys: tuple) -> None:
    private, public = keys
    bundle = bundle_of(tmp_path, private)
    files = members(bundle)
    raw = json.loads(files["manifest.json"])
    m = Manifest(**{**raw, "kind": "node-image"})
    files["manifest.json"], files["manifest.sig"] = m.to_bytes(), sign_manifest(private, m)
    rewrite(bundle, files)
    with pytest.raises(
        BundleError, match=re.escape("manifest.kind: 'node-image' is not 'gateway-release'")
    ):
        verify(bundle, public)


def test_garbage_is_not_a_bundle(tmp_path: Path, keys: tuple) -> None:
    path = tmp_path / "x.tar"
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(BundleError, match=r"not a readable release bundle|no manifest\.json"):
        verify(path, keys[1])


def test_a_refused_bundle_changes_nothing_on_the_gateway(tmp_path: Path, keys: tuple) -> None:
    private, public = keys
    bundle = bundle_of(tmp_path, private)
    config = parse_config(
        {
            "gateway": {"id": "gw-x", "county": "533103", "state_dir": str(tmp_path / "s")},
            "mqtt": {"url": "mqtt://127.0.0.1:1"},
        },
        "test",
    )

    class NoService:
        def restart(self) -> None:
            raise AssertionError("a refused update must not restart anything")

    layout = Layout(tmp_path / "opt")
    _, stranger = generate_keypair()
    for pubs, target in (([stranger], TARGET), ([public], "gateway-riscv64")):
        updater = SelfUpdater(layout, pubs, config, NoService(), target=target, policy=Policy())
        with pytest.raises((SignatureError, WrongTargetError)):
            updater.apply(bundle)
    assert not layout.releases.exists() and layout.current_version() is None
    updater = SelfUpdater(layout, [], config, NoService(), target=TARGET)
    with pytest.raises(UpdateRefused, match="no trusted release key"):
        updater.apply(bundle)


def test_cli_bundle_then_verify(tmp_path: Path, keys: tuple, capsys: pytest.CaptureFixture) -> None:
    private, public = keys
    save_private_key(tmp_path / "k.key", private)
    save_public_key(tmp_path / "k.pub", public)
    wheels = tmp_path / "wheels"
    make_release_wheel(wheels, "2.0.0")
    out = tmp_path / "release.tar"
    config = tmp_path / "gw.yaml"
    config.write_text(
        f"gateway: {{id: gw-x, county: '533103', state_dir: {tmp_path / 's'}}}\n"
        "mqtt: {url: 'mqtt://127.0.0.1:1'}\n"
    )

    def run(*argv: str) -> int:
        with pytest.raises(SystemExit) as exc:
            dehong_main(list(argv))
        return int(exc.value.code or 0)

    code = run("fw", "bundle", "--key", str(tmp_path / "k.key"), "--version", "2.0.0",
               "--wheels", str(wheels), "--out", str(out), "--target", default_target())  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0 and "1 wheel(s)" in captured.out
    assert "no pip wheel" in captured.err
    common = ["--root", str(tmp_path / "opt"), "--config", str(config),
              "--keys", str(tmp_path / "k.pub")]  # fmt: skip
    assert run("fw", "self-update", "verify", str(out), *common) == 0
    assert f"OK: {default_target()} 2.0.0" in capsys.readouterr().out
    assert run("fw", "self-update", "verify", str(out), *common, "--target", "gateway-x") == 2
    assert "refused: target: the image is for" in capsys.readouterr().err
    assert run("fw", "self-update", "status", *common, "--json") == 0
    assert json.loads(capsys.readouterr().out)["current"] is None


def test_pip_installs_from_the_bundle_only(tmp_path: Path, keys: tuple) -> None:
    """A dependency that is not in the bundle fails the install (no index is asked, even
    for a package PyPI has); the half-built release is removed, nothing is switched."""
    private, public = keys
    wheels = tmp_path / "wheels"
    make_release_wheel(wheels, "1.5.0", requires=("six>=1.0",))
    bundle = tmp_path / "release.tar"
    build_bundle(private, wheels, bundle, version="1.5.0", target=TARGET)
    config = parse_config(
        {
            "gateway": {"id": "gw-x", "county": "533103", "state_dir": str(tmp_path / "s")},
            "mqtt": {"url": "mqtt://127.0.0.1:1"},
        },
        "test",
    )

    class NoService:
        def restart(self) -> None:
            raise AssertionError("a failed install must not restart anything")

    layout = Layout(tmp_path / "opt")
    updater = SelfUpdater(layout, [public], config, NoService(), target=TARGET)
    with pytest.raises(
        InstallError, match=r"(?s)pip install --no-index failed.*six>=1.0.*from versions: none"
    ):
        updater.apply(bundle)
    assert layout.installed() == [] and not layout.release("1.5.0").exists()
    assert layout.current_version() is None and layout.read_state() is None


def test_cli_apply_incoming_sets_a_refused_bundle_aside_with_its_reason(
    tmp_path: Path, keys: tuple, capsys: pytest.CaptureFixture
) -> None:
    private, _ = keys
    _, stranger = generate_keypair()
    save_public_key(tmp_path / "k.pub", stranger)  # the gateway trusts another key
    incoming = tmp_path / "update" / "incoming"
    incoming.mkdir(parents=True)
    bundle_of(tmp_path, private).rename(incoming / "dehong-gateway-1.2.0.tar")
    config = tmp_path / "gw.yaml"
    config.write_text(
        f"gateway: {{id: gw-x, county: '533103', state_dir: {tmp_path / 's'}}}\n"
        "mqtt: {url: 'mqtt://127.0.0.1:1'}\n"
    )
    with pytest.raises(SystemExit) as exc:
        dehong_main(["fw", "self-update", "apply-incoming", "--root", str(tmp_path / "opt"),
                     "--config", str(config), "--keys", str(tmp_path / "k.pub"),
                     "--incoming", str(incoming), "--target", TARGET])  # fmt: skip
    assert exc.value.code == 2
    assert not list(incoming.iterdir())
    rejected = tmp_path / "update" / "rejected"
    assert (rejected / "dehong-gateway-1.2.0.tar").exists()
    reason = (rejected / "dehong-gateway-1.2.0.tar.reason").read_text()
    assert reason.startswith("signature: does not verify under any of the 1 trusted key(s)")
    assert "dehong-gateway-1.2.0.tar: signature" in capsys.readouterr().err
    assert not (tmp_path / "opt" / "releases").exists()
