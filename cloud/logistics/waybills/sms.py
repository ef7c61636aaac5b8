"""The delivery code's sender through cloud/notify's SMS channel.

:func:`code_sender_from_env` picks the channel: ``DEHONG_DELIVERY_CODE_CHANNEL`` names
one (it must be of kind ``sms``), else the first ``sms`` channel of
``DEHONG_NOTIFY_CHANNELS``; with none, ``None`` (the app keeps
:func:`cloud.logistics.waybills.codes.log_sender`).

The notifier keeps every message in ``notify_deliveries`` (and a dead one's rendered
body in ``notify_dead_letters``) so that a stopped process can resend it. A delivery
code and the receiver's phone (sealed personal data in the waybill) must not stay
there in clear: once the send ended (sent or dead) the sender replaces the stored
text with ``[delivery code redacted]`` and the recipient with its masked form. While
the send is being retried (at most ``max_attempts``, about a minute) the message is
stored sealed by ``cloud.pii`` (a ``personal`` notification), so a process killed then
leaves nothing in clear, and a notifier's ``resume()`` can still send it. The code
expires in 24 h regardless.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from sqlalchemy import update

from cloud.db import Database
from cloud.logistics.waybills.codes import CodeSender, masked_phone
from cloud.notify import Notification, Notifier, channels_from_env
from cloud.notify.storage import NotifyDeadLetter, NotifyDelivery
from cloud.pii import Keyring

REDACTED = "[delivery code redacted]"


class CodeNotSent(RuntimeError):
    """The SMS gateway refused the message for good (dead-lettered)."""


def notify_code_sender(notifier: Notifier, channel: str) -> CodeSender:
    async def send(phone: str, text: str) -> None:
        out = await notifier.send(
            channel,
            Notification(
                "签收码 Delivery code",
                text,
                "info",
                to=(phone,),
                key="delivery-code",
                personal=True,
            ),
        )
        await _redact(notifier.db, out.delivery_id, phone)
        if out.status != "sent":
            raise CodeNotSent(f"channel {channel}: {out.error or out.status}")

    return send


async def _redact(db: Database, delivery_id: int, phone: str) -> None:
    safe = {"title": "签收码 Delivery code", "text": REDACTED, "severity": "info",
            "to": [masked_phone(phone)], "data": {}, "key": "delivery-code"}  # fmt: skip
    async with db.transaction() as s:
        await s.execute(
            update(NotifyDelivery).where(NotifyDelivery.id == delivery_id).values(message=safe)
        )
        await s.execute(
            update(NotifyDeadLetter)
            .where(NotifyDeadLetter.delivery_id == delivery_id)
            .values(body={"redacted": REDACTED})
        )


def code_sender_from_env(
    db: Database, keyring: Keyring, env: Mapping[str, str] | None = None
) -> tuple[CodeSender, Notifier] | None:
    """``(sender, notifier)`` through the configured SMS channel, or None; ValueError
    naming the variable when the configuration is wrong. ``keyring`` seals the
    messages while they wait to be sent."""
    env = os.environ if env is None else env
    channels = channels_from_env(env)
    wanted = env.get("DEHONG_DELIVERY_CODE_CHANNEL", "").strip()
    if wanted:
        ch = channels.get(wanted)
        if ch is None or ch.kind != "sms":
            raise ValueError(
                f"DEHONG_DELIVERY_CODE_CHANNEL: {wanted!r} is not an sms channel of "
                "DEHONG_NOTIFY_CHANNELS"
            )
        name = wanted
    else:
        name = next((n for n, c in channels.items() if c.kind == "sms"), "")
        if not name:
            return None
    notifier = Notifier(db, {name: channels[name]}, keyring=keyring)
    return notify_code_sender(notifier, name), notifier
