"""cloud/services/statforms (issue 15): see README.md."""
