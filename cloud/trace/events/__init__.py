"""EPCIS 2.0 events: storage, capture jobs, query, and the routers of the REST binding
(``/api/v1/epcis/...``). :func:`cloud.trace.events.service.store_events` is the one
way events are stored. See ``cloud/trace/README.md``."""
