"""The simulated fleet (``dehong sim fleet``): refrigerated trucks on Dehong's roads.

Phones report over Traccar's OsmAnd protocol (query and JSON forms, offline
batches), truck gateways over MQTT through the edge gateway's own code path.
See simulators/README.md ("Fleet").
"""
