"""Notification channels (webhook, WeCom robot, DingTalk robot, SMS gateway) behind
one interface, :class:`Notifier`, with retry, backoff and a durable dead-letter
table. See README.md."""

from cloud.notify.channels import Channel, dingtalk_sign
from cloud.notify.config import channels_from_env
from cloud.notify.message import Notification
from cloud.notify.sender import Notifier, Outcome, UnknownChannel

__all__ = [
    "Channel",
    "Notification",
    "Notifier",
    "Outcome",
    "UnknownChannel",
    "channels_from_env",
    "dingtalk_sign",
]
