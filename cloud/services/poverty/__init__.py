"""cloud/services/poverty (issue 15): see README.md."""
