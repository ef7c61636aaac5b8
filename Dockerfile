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
RUN pip install --no-cache-dir '.[cloud]' && useradd --system dehong
USER dehong
ENTRYPOINT ["dehong"]
