"""Test results (floor 4): the ``dh:testResult`` EPCIS extension on sampling and
inspecting events (:mod:`.extension`, checked inside ``store_events``), its rows
(``trace_test_results``, written as the events are stored), our own *test* operation,
and the camera inspections that name a lot (:func:`.service.inspections_of`). See
cloud/trace/README.md.
"""
