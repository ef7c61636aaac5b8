#!/bin/sh
# Mosquitto with its reload agent: how docker-compose runs the broker.
#
# The cloud (the API, `dehong cloud ...`) regenerates passwd and acl in $DIR, a
# volume shared with the api container, and asks for a reload by writing one token
# line to $DIR/reload.fifo. This script sends Mosquitto SIGHUP (it rereads both
# files and closes the sessions of users it no longer knows) and confirms by
# writing the token to $DIR/reload.done. Nothing crosses containers but the
# volume: no shared PID namespace, no privileges (cloud.provisioning.mosquitto).
#
#   DEHONG_MOSQUITTO_DIR   where passwd, acl and the FIFO live (/dehong/broker)
#   MOSQUITTO_CONF         the config (/mosquitto/config/mosquitto.conf)
#   MOSQUITTO_GROUP        group allowed to write the FIFO (mosquitto)
set -u
DIR=${DEHONG_MOSQUITTO_DIR:-/dehong/broker}
CONF=${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}
GROUP=${MOSQUITTO_GROUP:-mosquitto}
FIFO="$DIR/reload.fifo"
DONE="$DIR/reload.done"

mkdir -p "$DIR"
if [ "$(id -u)" = 0 ]; then
  # The api (a member of $GROUP) writes here; the broker reads. Files made here
  # inherit the group (setgid), and provisioning makes them 0640.
  chgrp "$GROUP" "$DIR" && chmod 2770 "$DIR"
fi
if [ ! -p "$FIFO" ]; then
  rm -f "$FIFO"
  mkfifo -m 0620 "$FIFO" || exit 1
fi
chgrp "$GROUP" "$FIFO" 2>/dev/null || true

mosquitto -c "$CONF" &
BROKER=$!

(
  # Read-write: the agent never sees end-of-file and the cloud's non-blocking open
  # succeeds exactly while this agent is alive.
  exec 3<>"$FIFO"
  while read -r token <&3; do
    case "$token" in
      '' | *[!0-9a-f]*) echo "reload agent: ignored a malformed request" >&2; continue ;;
    esac
    if kill -HUP "$BROKER" 2>/dev/null; then
      printf '%s\n' "$token" > "$DONE.tmp" && chmod 0644 "$DONE.tmp" && mv -f "$DONE.tmp" "$DONE"
    else
      echo "reload agent: Mosquitto (pid $BROKER) is gone; not confirming" >&2
    fi
  done
) &
AGENT=$!

trap 'kill -TERM "$BROKER" 2>/dev/null' TERM INT
status=0
while kill -0 "$BROKER" 2>/dev/null; do
  wait "$BROKER"
  status=$?
done
kill "$AGENT" 2>/dev/null
wait "$AGENT" 2>/dev/null
exit "$status"
