"""Camera inspection on the gateway (issue 5): green-coffee tray grading and fruit
grading on a conveyor, with OpenCV. Needs the ``vision`` extra.

Modules: :mod:`.imagefile` (header check, bounded decode), :mod:`.config`,
:mod:`.quality` (the quality gate), :mod:`.calibration` (ArUco scale, lot QR),
:mod:`.coffee`, :mod:`.grading`, :mod:`.fruit`, :mod:`.tracking`, :mod:`.annotate`,
:mod:`.result` (to the wire's ``Inspection``), :mod:`.cli`.
"""
