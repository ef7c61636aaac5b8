"""Self-registration of organisations, county review, and platforms' API keys."""
