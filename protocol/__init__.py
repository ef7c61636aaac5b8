"""The wire contract, version 1, shared by edge, cloud and simulators.

This package imports nothing from edge/, cloud/ or simulators/. Everything a
message on the broker may contain is defined here, once:

- :mod:`protocol.topics`   the ``dh/v1/{county}/{gateway}/{channel}`` namespace
- :mod:`protocol.ids`      county codes, gateway ids, device ids, metric names
- :mod:`protocol.messages` the versioned payload schemas
- :mod:`protocol.codec`    encode/decode (orjson) with size limits
- :mod:`protocol.limits`   payload, batch and timestamp-window limits
- :mod:`protocol.quality`  per-reading quality flags
"""

from protocol.codec import ProtocolError, decode, encode
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.messages import (
    SCHEMA_VERSION,
    AckEntry,
    Birth,
    CommandAck,
    CommandMessage,
    DataBatch,
    Death,
    EventMessage,
    Health,
    Series,
    WriteAck,
)
from protocol.quality import Quality
from protocol.topics import Channel, Topic

__all__ = [
    "DEFAULT_LIMITS",
    "SCHEMA_VERSION",
    "AckEntry",
    "Birth",
    "Channel",
    "CommandAck",
    "CommandMessage",
    "DataBatch",
    "Death",
    "EventMessage",
    "Health",
    "Limits",
    "ProtocolError",
    "Quality",
    "Series",
    "Topic",
    "WriteAck",
    "decode",
    "encode",
]
