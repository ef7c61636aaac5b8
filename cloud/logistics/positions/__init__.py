"""Vehicle positions: by MQTT (truck gateways) and by phone (OsmAnd / Traccar Client).

The public Python API other packages use:

- :func:`cloud.logistics.positions.read.positions_of` — a vehicle's stored fixes over
  a window, in fix-time order;
- :mod:`cloud.logistics.positions.dirty` — ``touched_windows``, ``claim``,
  ``complete``, ``register_consumer``: the hours that fixes touched, by fix time;
- :func:`cloud.logistics.positions.tracks.run_once` — the daily simplified tracks job.
"""
