"""Traceability (floor 4): lots, EPCIS 2.0 capture and query, custody with sensor
evidence, the tamper-evident log, certificates, brand admission and recall.

See README.md for the model. Each area is its own module or subpackage with its own
router; :mod:`cloud.trace.router` gathers them under ``/api/v1``.
"""
