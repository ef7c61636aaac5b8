"""Prometheus text exposition: :mod:`cloud.metrics.text` renders, :mod:`cloud.metrics.server`
serves ``/metrics`` from a process that has no HTTP server of its own (an ingest worker)."""
