"""Logistics (floor 5): fleet, drivers, cold stores, supply and capacity, trips, waybills
and proof of delivery (this branch); positions and trackers (cloud/logistics/positions).
See cloud/logistics/README.md."""
