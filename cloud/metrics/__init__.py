"""Prometheus metrics through prometheus_client, a registry per app or worker:
:mod:`cloud.metrics.server` serves ``/metrics`` from a process that has no HTTP server
of its own (an ingest worker), :mod:`cloud.metrics.access` checks the scrape token,
:mod:`cloud.metrics.histogram` counts latencies on hot paths."""
