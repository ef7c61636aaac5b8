"""Logistics (floor 5): vehicles, positions, trips, waybills and the dispatcher console."""
