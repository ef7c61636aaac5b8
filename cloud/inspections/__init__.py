"""Camera inspections in the cloud (issue 5): each inspection event's record
(relational), its numbers (the ``inspection`` time-series measurement) and its
thumbnail (a content-addressed file store); the county-scoped API.

Modules: :mod:`.files` (the file store), :mod:`.thumbnails` (checking a
thumbnail from the wire), :mod:`.storage` (the table), :mod:`.ingest` (what
ingest calls for an inspection event), :mod:`.service` (queries),
:mod:`.schemas`, :mod:`.router`.
"""
