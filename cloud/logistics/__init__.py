"""Logistics (floor 5): vehicles, positions, trips, stops, geofences, waybills."""
