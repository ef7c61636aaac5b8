"""Master data every business system shares: organisations and who owns a mobile device."""
