"""Recall (floor 4): forward and backward through transformations, aggregations and
registered lot parents (:mod:`.graph`, a breadth-first walk, cycle-safe and
depth-limited), each reached lot or container with its last custody (:mod:`.custody`)
and certificates, as JSON or CSV (:mod:`.service`). See cloud/trace/README.md.
"""
