"""Our own trace operations (harvest, process, pack, test, store, load, receive, sell):
the API, the CLI and the service functions that write each step's EPCIS 2.0 event
through ``store_events``. See cloud/trace/README.md, "Operations"."""
