"""The driver's phone page, /m/driver (offline-first, like /m/trace)."""
