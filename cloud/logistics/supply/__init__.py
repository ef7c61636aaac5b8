"""Supply information (货源), the capacity board and matching."""
