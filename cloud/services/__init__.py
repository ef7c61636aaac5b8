"""Public service (issue 15): one subpackage per section (registry, stations, training, h5, mofcom, ...)."""
