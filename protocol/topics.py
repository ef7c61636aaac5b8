"""Topic namespace ``dh/v1/{county}/{gateway}/{channel}`` (Sparkplug-inspired).

Channels and who publishes them:

=========  ==============  ========  ==================================================
channel    direction       retained  content
=========  ==============  ========  ==================================================
birth      gateway->cloud  yes       session counter, inventory, versions, config hash
death      gateway->cloud  yes       session counter; the MQTT last will
data       gateway->cloud  no        columnar batches of readings (QoS 1)
event      gateway->cloud  no        alarms, device up/down, inspections
health     gateway->cloud  no        buffer depth, resources, clock state
cmd        cloud->gateway  no        commands with id and expiry
cmd/ack    gateway->cloud  no        command results
ack        cloud->gateway  no        write-acks: batches that are stored
=========  ==============  ========  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from protocol.ids import check_county, check_gateway_id

ROOT = "dh"
VERSION = "v1"
PREFIX = f"{ROOT}/{VERSION}"


class Channel(StrEnum):
    BIRTH = "birth"
    DEATH = "death"
    DATA = "data"
    EVENT = "event"
    HEALTH = "health"
    CMD = "cmd"
    CMD_ACK = "cmd/ack"
    ACK = "ack"


#: Channels a gateway publishes on; the rest it subscribes to.
GATEWAY_PUBLISHES: tuple[Channel, ...] = (
    Channel.BIRTH,
    Channel.DEATH,
    Channel.DATA,
    Channel.EVENT,
    Channel.HEALTH,
    Channel.CMD_ACK,
)
GATEWAY_SUBSCRIBES: tuple[Channel, ...] = (Channel.CMD, Channel.ACK)


class TopicError(ValueError):
    """A topic outside the namespace; the message names the part that is wrong."""


@dataclass(frozen=True, slots=True)
class Topic:
    county: str
    gateway: str
    channel: Channel

    def __str__(self) -> str:
        return f"{PREFIX}/{self.county}/{self.gateway}/{self.channel.value}"

    @classmethod
    def build(cls, county: str, gateway: str, channel: Channel | str) -> Topic:
        check_county(county)
        check_gateway_id(gateway)
        return cls(county, gateway, Channel(channel))

    @classmethod
    def parse(cls, topic: str) -> Topic:
        parts = topic.split("/")
        if len(parts) < 5 or parts[0] != ROOT:
            raise TopicError(
                f"topic {topic!r}: expected {PREFIX}/{{county}}/{{gateway}}/{{channel}}"
            )
        if parts[1] != VERSION:
            raise TopicError(
                f"topic {topic!r}: unsupported version {parts[1]!r}, expected {VERSION!r}"
            )
        county, gateway, rest = parts[2], parts[3], "/".join(parts[4:])
        try:
            check_county(county)
        except ValueError as exc:
            raise TopicError(f"topic county: {exc}") from None
        try:
            check_gateway_id(gateway)
        except ValueError as exc:
            raise TopicError(f"topic gateway: {exc}") from None
        try:
            channel = Channel(rest)
        except ValueError:
            raise TopicError(
                f"topic {topic!r}: unknown channel {rest!r}; one of "
                f"{', '.join(c.value for c in Channel)}"
            ) from None
        return cls(county, gateway, channel)


def subscription(channel: Channel | str, county: str = "+", gateway: str = "+") -> str:
    """A subscription filter for one channel, e.g. ``dh/v1/+/+/data``."""
    return f"{PREFIX}/{county}/{gateway}/{Channel(channel).value}"


def shared(group: str, topic_filter: str) -> str:
    """An MQTT 5 / Mosquitto 2 shared subscription: ``$share/{group}/{filter}``."""
    return f"$share/{group}/{topic_filter}"
