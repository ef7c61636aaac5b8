"""cloud/services/stations (issue 15): see README.md."""
