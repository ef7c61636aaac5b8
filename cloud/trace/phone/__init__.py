"""The offline-first phone page for recording trace steps (``/m/trace``)."""
