#!/usr/bin/env bash
# Install the Dehong field gateway on Raspberry Pi OS (Debian 12, arm64), as root.
#
#   sudo bash edge/deploy/install.sh [WHEEL_OR_PROJECT_DIR]
#
# Creates the `dehong` user, the first release's venv in
# /opt/dehong/releases/<version>/venv with only the `edge` extra (every dependency
# has a manylinux aarch64 wheel; nothing is compiled and nothing is installed at
# run time) and the /opt/dehong/current link to it, /etc/dehong/gateway.yaml from
# the sample if absent, /etc/dehong/release-keys/ (put the release engineer's
# fw-signing.pub there), and the systemd units: the gateway, and its self-update
# (dehong-gateway-update.path/.service, dehong-gateway-update-resume.service; see
# firmware_bridge/README.md, "Gateway self-update"). Later releases arrive as
# signed bundles; re-running this script installs this source as a new release
# and switches to it without a health trial.
set -euo pipefail

SRC="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
PREFIX=/opt/dehong
ETC=/etc/dehong
STATE=/var/lib/dehong

if [[ $EUID -ne 0 ]]; then
  echo "install.sh: run as root (sudo bash $0)" >&2
  exit 2
fi
arch=$(uname -m)
if [[ $arch != aarch64 && $arch != x86_64 ]]; then
  echo "install.sh: $arch is not supported; use Raspberry Pi OS 64-bit (aarch64)" >&2
  exit 2
fi

apt-get install -y --no-install-recommends python3 python3-venv
id dehong >/dev/null 2>&1 || useradd --system --home "$STATE" --shell /usr/sbin/nologin dehong
getent group dialout >/dev/null && usermod -aG dialout dehong
getent group bluetooth >/dev/null && usermod -aG bluetooth dehong

# the release's version names its directory: from pyproject.toml, or the wheel's name
if [[ -d $SRC ]]; then
  VERSION=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$SRC/pyproject.toml")
else
  VERSION=$(basename "$SRC" | cut -d- -f2)
fi
RELEASE="$PREFIX/releases/$VERSION"
rm -rf "$RELEASE"
python3 -m venv "$RELEASE/venv"
"$RELEASE/venv/bin/pip" install --upgrade pip
"$RELEASE/venv/bin/pip" install --only-binary=:all: "${SRC}[edge]" \
  || "$RELEASE/venv/bin/pip" install "${SRC}[edge]"
date +%s > "$RELEASE/.complete"
# atomic switch: a new link renamed over the old one
ln -sfn "releases/$VERSION" "$PREFIX/.current.new" && mv -T "$PREFIX/.current.new" "$PREFIX/current"
if [[ -d $PREFIX/venv && ! -L $PREFIX/venv ]]; then
  echo "install.sh: $PREFIX/venv (the layout before releases/) is no longer used; remove it"
fi
install -d -m 0755 /etc/dehong/release-keys

install -d -m 0750 -o root -g dehong "$ETC"
install -d -m 0750 -o dehong -g dehong "$STATE"
if [[ ! -f $ETC/gateway.yaml ]]; then
  sed -e "s#state_dir: .*#state_dir: $STATE#" \
      -e "s#^  \# password_file: .*#  password_file: $ETC/gateway.password#" \
      "$SRC/edge/gateway.sample.yaml" > "$ETC/gateway.yaml"
  chown root:dehong "$ETC/gateway.yaml"
  chmod 0640 "$ETC/gateway.yaml"
  echo "install.sh: wrote $ETC/gateway.yaml from the sample: set gateway.id, county and mqtt"
fi
if [[ ! -f $ETC/gateway.password ]]; then
  install -m 0640 -o root -g dehong /dev/null "$ETC/gateway.password"
  echo "install.sh: put the gateway's MQTT password in $ETC/gateway.password"
fi
install -d -m 0755 "$PREFIX/share/edge"
install -m 0644 "$SRC/edge/README.md" "$PREFIX/share/edge/README.md"
for unit in dehong-edge.service dehong-gateway-update.path dehong-gateway-update.service \
    dehong-gateway-update-resume.service; do
  install -m 0644 "$SRC/edge/deploy/$unit" "/etc/systemd/system/$unit"
done
install -d -m 0750 /var/lib/dehong-update/incoming
systemctl daemon-reload
systemctl enable dehong-edge.service dehong-gateway-update.path dehong-gateway-update-resume.service
# fake-hwclock keeps the clock from going back to 1970 across reboots (no RTC on a Pi).
if ! apt-get install -y --no-install-recommends fake-hwclock; then
  echo "install.sh: WARNING: fake-hwclock is not installed; the gateway still never goes" \
    "back before its own last good time, but TLS may fail until NTP syncs" >&2
fi

echo "install.sh: check the config, then: systemctl start dehong-edge; journalctl -fu dehong-edge"
if [[ -z $(ls /etc/dehong/release-keys 2>/dev/null) ]]; then
  echo "install.sh: no release key in /etc/dehong/release-keys: self-updates are refused until" \
    "the release engineer's fw-signing.pub is copied there"
fi
"$PREFIX/current/venv/bin/dehong" edge check-config "$ETC/gateway.yaml"
