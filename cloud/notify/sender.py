"""The one interface: :meth:`Notifier.send` delivers a notification on a named
channel, retrying with jittered exponential backoff, and dead-letters it when it
fails for good.

- The delivery row is committed (``pending``) before the first attempt and updated
  after each, so nothing is lost when the process stops: :meth:`Notifier.resume`
  sends what is still pending.
- Transient failures (connection refused, timeout, 408, 429, 5xx, a robot's rate
  limit) are retried up to ``max_attempts`` with delays from ``protocol.backoff``
  (``min_delay_s`` doubling to ``max_delay_s``, jittered); permanent ones (other 4xx,
  a robot's errcode) go to the dead letters at once.
- A ``personal`` notification (a phone number, a one-time code) is stored sealed by
  ``cloud.pii`` with the notifier's keyring, and its dead letter keeps no body: a
  process stopped mid-retry leaves nothing personal in clear, and :meth:`resume`
  opens it again to send it.
- ``sleep`` is injected: tests pass one that returns at once (or an injected
  clock's), so the retries of a test take no wall time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx
from sqlalchemy import select, update

from cloud.db import Database, utcnow
from cloud.notify.channels import Channel, Verdict
from cloud.notify.message import Notification
from cloud.notify.storage import NotifyDeadLetter, NotifyDelivery
from cloud.pii import Keyring, PiiError, open_field, seal
from protocol.backoff import Backoff

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

#: the sealed message's context (bound into the ciphertext: a token moved elsewhere fails)
SEALED_CONTEXT = "notify_deliveries.message"


@dataclass(frozen=True, slots=True)
class Outcome:
    delivery_id: int
    channel: str
    status: str  # sent | dead
    attempts: int
    error: str | None = None


class UnknownChannel(ValueError):
    pass


class Notifier:
    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        *,
        max_attempts: int = 5,
        min_delay_s: float = 0.5,
        max_delay_s: float = 30.0,
        timeout_s: float = 10.0,
        sleep: Sleep = asyncio.sleep,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        client: httpx.AsyncClient | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts: at least 1")
        self.db = db
        self.channels = dict(channels)
        self.max_attempts = max_attempts
        self.min_delay_s = min_delay_s
        self.max_delay_s = max_delay_s
        self.sleep = sleep
        self.now_ms = now_ms
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._own_client = client is None
        self.keyring = keyring

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    def channel(self, name: str) -> Channel:
        try:
            return self.channels[name]
        except KeyError:
            known = ", ".join(sorted(self.channels)) or "none configured"
            raise UnknownChannel(f"channel: {name!r} is not configured ({known})") from None

    async def send(self, channel: str, message: Notification) -> Outcome:
        """Deliver ``message`` on ``channel`` (its retries included); the outcome is
        ``sent`` or ``dead`` (in ``notify_dead_letters``). UnknownChannel when the
        channel is not configured (nothing stored)."""
        ch = self.channel(channel)
        stored = self._stored(message)
        async with self.db.transaction() as s:
            row = NotifyDelivery(
                channel=ch.name, message=stored, key=message.key[:128],
                status="pending", attempts=0, created_at=utcnow(),
            )  # fmt: skip
            s.add(row)
            await s.flush()
            delivery_id = row.id
        return await self._deliver(delivery_id, ch, message, 0)

    async def send_all(self, channels: list[str], message: Notification) -> list[Outcome]:
        return list(await asyncio.gather(*(self.send(c, message) for c in channels)))

    async def resume(self) -> list[Outcome]:
        """Send every delivery left ``pending`` (a process stopped mid-retry)."""
        async with self.db.session() as s:
            rows = (
                await s.scalars(select(NotifyDelivery).where(NotifyDelivery.status == "pending"))
            ).all()
        out = []
        for row in rows:
            ch = self.channels.get(row.channel)
            if ch is None:
                await self._dead(row.id, None, row.attempts, f"channel {row.channel!r} is gone")
                out.append(Outcome(row.id, row.channel, "dead", row.attempts, "channel gone"))
                continue
            try:
                message = self._loaded(row.message)
            except (PiiError, ValueError) as exc:
                await self._dead(row.id, None, row.attempts, f"sealed message: {exc}")
                out.append(Outcome(row.id, row.channel, "dead", row.attempts, str(exc)))
                continue
            out.append(await self._deliver(row.id, ch, message, row.attempts))
        return out

    def _stored(self, message: Notification) -> dict[str, object]:
        """The delivery row's ``message``: as is, or sealed when it is personal."""
        if not message.personal:
            return message.as_dict()
        if self.keyring is None:
            raise ValueError(
                "personal: a notification with personal data needs the notifier's keyring "
                "(DEHONG_PII_KEYS or DEHONG_PII_KEY_FILE); nothing was stored or sent"
            )
        clear = json.dumps(message.as_dict(), ensure_ascii=False)
        return {"sealed": seal(self.keyring, clear, SEALED_CONTEXT), "key": message.key}

    def _loaded(self, stored: dict[str, object]) -> Notification:
        token = stored.get("sealed")
        if token is None:
            return Notification.from_dict(stored)
        if self.keyring is None:
            raise ValueError("the message is sealed and this notifier has no keyring")
        return Notification.from_dict(
            json.loads(open_field(self.keyring, str(token), SEALED_CONTEXT))
        )

    async def _deliver(
        self, delivery_id: int, ch: Channel, message: Notification, attempts: int
    ) -> Outcome:
        backoff = Backoff(self.min_delay_s, self.max_delay_s)
        error = ""
        request = ch.render(message, self.now_ms())
        while attempts < self.max_attempts:
            request = ch.render(message, self.now_ms())  # a fresh DingTalk signature
            attempts += 1
            try:
                answer = await self._client.request(
                    request.method, request.url, json=request.body, headers=request.headers
                )
                verdict, error = ch.judge(answer.status_code, answer.content)
            except httpx.HTTPError as exc:
                verdict, error = Verdict.RETRY, f"{type(exc).__name__}: {exc}"
            if verdict == Verdict.OK:
                async with self.db.transaction() as s:
                    await s.execute(
                        update(NotifyDelivery)
                        .where(NotifyDelivery.id == delivery_id)
                        .values(status="sent", attempts=attempts, sent_at=utcnow(), last_error=None)
                    )
                return Outcome(delivery_id, ch.name, "sent", attempts)
            async with self.db.transaction() as s:
                await s.execute(
                    update(NotifyDelivery)
                    .where(NotifyDelivery.id == delivery_id)
                    .values(attempts=attempts, last_error=error[:2000])
                )
            if verdict == Verdict.PERMANENT:
                break
            if attempts < self.max_attempts:
                delay = backoff.next()
                log.warning(
                    "notify %s via %s failed (%s); attempt %d of %d, next in %.1fs",
                    delivery_id, ch.name, error, attempts, self.max_attempts, delay,
                )  # fmt: skip
                await self.sleep(delay)
        body: dict[str, object] = request.body
        if message.personal:  # the rendered request holds the phone and the text
            body = {"redacted": "personal data: not kept"}
        await self._dead(delivery_id, (ch, body), attempts, error)
        log.error("notify %s via %s dead-lettered after %d attempts: %s",
                  delivery_id, ch.name, attempts, error)  # fmt: skip
        return Outcome(delivery_id, ch.name, "dead", attempts, error)

    async def _dead(
        self,
        delivery_id: int,
        rendered: tuple[Channel, dict[str, object]] | None,
        attempts: int,
        reason: str,
    ) -> None:
        async with self.db.transaction() as s:
            row = await s.get(NotifyDelivery, delivery_id)
            assert row is not None
            row.status = "dead"
            row.attempts = attempts
            row.last_error = reason[:2000]
            ch, body = rendered if rendered else (None, {})
            s.add(
                NotifyDeadLetter(
                    delivery_id=delivery_id,
                    channel=row.channel,
                    kind=ch.kind if ch else "",
                    url=ch.redacted_url()[:500] if ch else "",
                    body=body,
                    attempts=attempts,
                    reason=reason[:2000] or "failed",
                    created_at=utcnow(),
                )
            )
