"""Logistics (floor 5): vehicles, drivers, carriers, positions, trips, waybills.

Each part is a sub-package with its own router; :mod:`cloud.logistics.router` joins
them, so the app includes logistics once.
"""
