"""Scan to trust (issue 12): the GS1 Digital Link resolver, the consumer trace page,
labels, serials and scans (floor 6). See cloud/resolver/README.md."""
