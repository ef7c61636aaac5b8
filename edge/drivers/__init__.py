"""Input drivers: one module per protocol, each a :class:`edge.drivers.base.Driver`."""
