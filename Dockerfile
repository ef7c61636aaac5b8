# One image for the cloud services (ingest, API). The gateway installs with pip on the Pi
# (see edge/deploy/), never from this image.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY protocol protocol
COPY edge edge
COPY cloud cloud
COPY simulators simulators
COPY bench bench
COPY dehong dehong
# The group `mosquitto` has the gid of the broker image's user (eclipse-mosquitto:
# 1883): provisioning makes the broker's passwd/acl 0640 in it (DEHONG_MOSQUITTO_GROUP).
RUN pip install --no-cache-dir '.[cloud]' \
    && groupadd --system --gid 1883 mosquitto \
    && useradd --system --groups mosquitto dehong \
    && install -d -o dehong -g mosquitto -m 2770 /var/lib/dehong/broker
USER dehong
ENTRYPOINT ["dehong"]
