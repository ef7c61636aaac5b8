"""Carriers, vehicles, drivers and cold stores: attribute tables keyed by the catalog."""
