"""Per-reading quality flags. Sent sparsely: only readings with flags != 0 carry them."""

from enum import IntFlag


class Quality(IntFlag):
    GOOD = 0
    #: The wall time could not be established when measured; recomputed or estimated.
    CLOCK_SUSPECT = 1
    #: The sensor reported a fault, or a value outside its physical range.
    SENSOR_FAULT = 2
    #: A calibration offset/scale from config was applied.
    CALIBRATED = 4
    #: Sent from the gateway's backlog after an outage, not live.
    BACKLOG = 8
    #: Estimated or interpolated, not measured.
    ESTIMATED = 16
    #: The buffer was thinned around this reading (neighbours were dropped).
    THINNED = 32


ALL_FLAGS = int(
    Quality.CLOCK_SUSPECT
    | Quality.SENSOR_FAULT
    | Quality.CALIBRATED
    | Quality.BACKLOG
    | Quality.ESTIMATED
    | Quality.THINNED
)
