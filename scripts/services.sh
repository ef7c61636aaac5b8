#!/usr/bin/env bash
# Make sure the servers the tests need are running on loopback:
#   Mosquitto 127.0.0.1:1883, PostgreSQL 127.0.0.1:5432, InfluxDB 127.0.0.1:8086.
# Starts what is not running; installs InfluxDB (Debian's influxdb 1.6.x) if absent.
# Idempotent. Leaves already-running services as they are.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
INFLUX_PORT="${DEHONG_TEST_INFLUX_PORT:-8086}"
INFLUX_STATE="${DEHONG_INFLUX_STATE:-/var/tmp/dehong-influxdb}"

log() { echo "services: $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2
  for _ in $(seq 1 100); do
    port_open "$port" && return 0
    sleep 0.2
  done
  log "$name did not open port $port"; return 1
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then log "need root to apt-get install $*"; return 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "$@" >/dev/null
}

# --- Mosquitto -----------------------------------------------------------
if port_open 1883; then
  log "mosquitto: already on 1883"
else
  command -v mosquitto >/dev/null || apt_install mosquitto mosquitto-clients
  if [ -f /etc/mosquitto/mosquitto.conf ]; then
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
  else
    mosquitto -d -p 1883
  fi
  wait_port 1883 mosquitto
  log "mosquitto: started"
fi
# The tests also start private brokers from deploy/mosquitto: they need the binary.
command -v mosquitto_passwd >/dev/null || apt_install mosquitto mosquitto-clients

# --- PostgreSQL ----------------------------------------------------------
if port_open 5432; then
  log "postgresql: already on 5432"
else
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  else
    log "postgresql is not installed and not running; install it (apt-get install postgresql)"
    exit 1
  fi
  wait_port 5432 postgresql
  log "postgresql: started"
fi

# --- InfluxDB ------------------------------------------------------------
if port_open "$INFLUX_PORT"; then
  log "influxdb: already on $INFLUX_PORT"
else
  command -v influxd >/dev/null || apt_install influxdb
  mkdir -p "$INFLUX_STATE"
  # The RPC port (backup/restore) must be free too: derived from the HTTP port.
  sed -e "s#@STATE@#$INFLUX_STATE#g" -e "s#@PORT@#$INFLUX_PORT#g" \
    -e "s#@RPC_PORT@#${DEHONG_TEST_INFLUX_RPC_PORT:-$((INFLUX_PORT + 2))}#g" \
    "$ROOT/deploy/influxdb/influxdb.conf" > "$INFLUX_STATE/influxdb.conf"
  nohup influxd -config "$INFLUX_STATE/influxdb.conf" > "$INFLUX_STATE/influxd.log" 2>&1 &
  echo $! > "$INFLUX_STATE/influxd.pid"
  wait_port "$INFLUX_PORT" influxdb || { tail -20 "$INFLUX_STATE/influxd.log" >&2; exit 1; }
  log "influxdb: started (pid $(cat "$INFLUX_STATE/influxd.pid"), state $INFLUX_STATE)"
fi

# --- Chromium (the phone page's browser test, tests/cloud/test_phone_page.py) --------
# Debian's chromium, driven by Playwright for Python (no browser download), and a CJK
# font so that the page's Chinese renders in its screenshots.
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium fonts-wqy-microhei
  log "chromium: installed"
elif ! fc-list 2>/dev/null | grep -qi -e wqy -e "noto sans cjk"; then
  apt_install fonts-wqy-microhei
fi

# --- wrk (the flat-out phase of `dehong bench services`: 100 connections from C) ------
command -v wrk >/dev/null || apt_install wrk || log "wrk: not installed (dehong bench services needs it)"

# --- poppler-utils (pdftoppm: tests/cloud/test_labels.py rasterises the label sheet) --
# Without it the test still decodes the sheet's QR codes from its own fill operators.
if ! command -v pdftoppm >/dev/null; then
  apt_install poppler-utils || log "poppler-utils: not installed (label sheets checked without pdftoppm)"
fi
