"""Logistics (floor 5): positions and trackers, fleet, drivers, cold stores, supply and
capacity, trips, waybills and proof of delivery, the dispatcher console.

Each part is a sub-package with its own router; :mod:`cloud.logistics.router` joins
them, so the app includes logistics once. See cloud/logistics/README.md.
"""
