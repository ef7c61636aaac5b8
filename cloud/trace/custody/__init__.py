"""Custody of lots and its sensor evidence (issue 11): which place held a lot, from when
to when, derived from its EPCIS events; the conditions there, from the time series of
the location's devices, as evidence events of their own (cloud/trace/README.md,
"Custody and sensor evidence")."""
