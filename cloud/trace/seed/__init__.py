"""``dehong trace seed``: a large synthetic history for benchmarks and demos.

- :mod:`.writer`: :class:`~cloud.trace.seed.writer.HistoryWriter`, events and lots
  written straight into the trace tables and the tamper-evident log, in batches;
- :mod:`.history`: :func:`~cloud.trace.seed.history.seed_history`, the history itself
  (catalog, lots, harvest, processing, packing, storing, loading, receiving);
- :mod:`.cli`: the command.
"""
