"""E-commerce statistics and the big-data screen (issue 14)."""
