"""cloud/notify against a real local HTTP receiver: every channel's request, retries
after failures then success, permanent failures and exhausted retries to the
dead-letter table, resume after a stop, and configuration refusals."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse

import pytest
from sqlalchemy import select

from cloud.db import Database
from cloud.notify import Channel, Notification, Notifier, channels_from_env, dingtalk_sign
from cloud.notify.storage import NotifyDeadLetter, NotifyDelivery
from tests.support.http_receiver import http_receiver

MSG = Notification("冷库超温 Cold room above range", "芒市一号冷库 9.2 °C", "critical",
                   to=("13800000000",), data={"alarm": 7}, key="alarm:7:step:0")  # fmt: skip


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def notifier(db: Database, *channels: Channel, attempts: int = 4) -> tuple[Notifier, Sleeps]:
    sleeps = Sleeps()
    n = Notifier(db, {c.name: c for c in channels}, max_attempts=attempts, sleep=sleeps,
                 min_delay_s=0.5, max_delay_s=4.0, now_ms=lambda: 1_767_225_600_000)  # fmt: skip
    return n, sleeps


async def test_webhook_retries_then_succeeds(db: Database) -> None:
    with http_receiver([(503, b"busy"), (500, b"oops")]) as rec:
        n, sleeps = notifier(db, Channel("ops", "webhook", url=rec.url + "/hook",
                                         headers={"X-Token": "t"}))  # fmt: skip
        out = await n.send("ops", MSG)
        await n.aclose()
    assert (out.status, out.attempts) == ("sent", 3)
    assert len(rec.requests) == 3
    body = rec.requests[-1].body
    assert body["title"] == MSG.title and body["data"] == {"alarm": 7}
    assert body["key"] == "alarm:7:step:0" and rec.requests[-1].headers["X-Token"] == "t"
    # jittered exponential backoff: [0.25, 0.5] then [0.5, 1.0]
    assert len(sleeps.delays) == 2
    assert 0.25 <= sleeps.delays[0] <= 0.5 and 0.5 <= sleeps.delays[1] <= 1.0
    async with db.session() as s:
        row = (await s.scalars(select(NotifyDelivery))).one()
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)


async def test_exhausted_retries_and_permanent_refusal_are_dead_lettered(db: Database) -> None:
    with http_receiver([(502, b"down")] * 10) as rec:
        n, sleeps = notifier(db, Channel("ops", "webhook", url=rec.url), attempts=3)
        out = await n.send("ops", MSG)
        assert (out.status, out.attempts) == ("dead", 3)
        assert len(rec.requests) == 3 and len(sleeps.delays) == 2
        rec.script[:] = [(400, b'{"error": "bad phone"}')]
        out2 = await n.send("ops", MSG)
        await n.aclose()
    assert (out2.status, out2.attempts) == ("dead", 1)  # 400: never retried
    async with db.session() as s:
        dead = (await s.scalars(select(NotifyDeadLetter).order_by(NotifyDeadLetter.id))).all()
    assert [d.attempts for d in dead] == [3, 1]
    assert "HTTP 502" in dead[0].reason and "bad phone" in dead[1].reason
    assert dead[0].body["title"] == MSG.title and dead[0].kind == "webhook"


async def test_wecom_robot_json_and_errcode(db: Database) -> None:
    with http_receiver([(200, b'{"errcode": 45009, "errmsg": "api freq out of limit"}'),
                        (200, b'{"errcode": 0, "errmsg": "ok"}'),
                        (200, b'{"errcode": 93000, "errmsg": "invalid webhook url"}')]) as rec:  # fmt: skip
        ch = Channel("wecom", "wecom", url=rec.url + "/cgi-bin/webhook/send", token="KEY-123")
        n, _ = notifier(db, ch)
        out = await n.send("wecom", MSG)
        bad = await n.send("wecom", MSG)
        await n.aclose()
    assert (out.status, out.attempts) == ("sent", 2)  # a rate limit is retried
    assert (bad.status, bad.attempts) == ("dead", 1)  # an invalid key is not
    req = rec.requests[0]
    assert req.path == "/cgi-bin/webhook/send?key=KEY-123"
    assert req.body["msgtype"] == "markdown"
    assert MSG.title in req.body["markdown"]["content"]
    async with db.session() as s:
        dead = (await s.scalars(select(NotifyDeadLetter))).one()
    assert "KEY-123" not in dead.url and "errcode 93000" in dead.reason


async def test_dingtalk_signed_timestamp(db: Database) -> None:
    with http_receiver() as rec:
        ch = Channel("ding", "dingtalk", url=rec.url + "/robot/send", token="TOK",
                     secret="SEC-abc")  # fmt: skip
        n, _ = notifier(db, ch)
        assert (await n.send("ding", MSG)).status == "sent"
        await n.aclose()
    req = rec.requests[0]
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)
    assert q["access_token"] == ["TOK"] and q["timestamp"] == ["1767225600000"]
    # computed independently of cloud.notify: DingTalk's documented algorithm
    expected = base64.b64encode(
        hmac.new(b"SEC-abc", b"1767225600000\nSEC-abc", hashlib.sha256).digest()
    ).decode()
    assert q["sign"] == [expected] == [dingtalk_sign("SEC-abc", 1_767_225_600_000)]
    assert req.body["at"]["atMobiles"] == ["13800000000"]
    assert req.body["markdown"]["title"] == MSG.title


async def test_sms_gateway_template(db: Database) -> None:
    with http_receiver([(200, b'{"code": "LIMIT"}'), (200, b'{"code": "OK"}')]) as rec:
        ch = Channel(
            "sms", "sms", url=rec.url + "/sms", method="PUT",
            template={"phones": "{to}", "sign": "德宏冷链", "content": "{title}: {text}",
                      "n": 1},
            ok_field="code", ok_value="OK",
        )  # fmt: skip
        n, _ = notifier(db, ch)
        first = await n.send("sms", MSG)
        second = await n.send("sms", MSG)
        await n.aclose()
    assert first.status == "dead" and "code = 'LIMIT'" in (first.error or "")
    assert second.status == "sent"
    req = rec.requests[1]
    assert req.method == "PUT"
    assert req.body == {"phones": "13800000000", "sign": "德宏冷链",
                        "content": f"{MSG.title}: {MSG.text}", "n": 1}  # fmt: skip


async def test_resume_sends_what_a_stopped_process_left(db: Database) -> None:
    async with db.transaction() as s:
        s.add(NotifyDelivery(channel="ops", message=MSG.as_dict(), key=MSG.key,
                             status="pending", attempts=2))  # fmt: skip
    with http_receiver() as rec:
        n, _ = notifier(db, Channel("ops", "webhook", url=rec.url))
        out = await n.resume()
        await n.aclose()
    assert [(o.status, o.attempts) for o in out] == [("sent", 3)]
    assert rec.requests[0].body["title"] == MSG.title


async def test_unreachable_receiver_is_retried_then_dead(db: Database) -> None:
    with http_receiver() as rec:
        url = rec.url  # closed after this block: connection refused
    n, sleeps = notifier(db, Channel("ops", "webhook", url=url), attempts=2)
    out = await n.send("ops", MSG)
    await n.aclose()
    assert out.status == "dead" and "ConnectError" in (out.error or "")
    assert len(sleeps.delays) == 1


def test_configuration_from_env_and_refusals() -> None:
    env = {
        "DEHONG_NOTIFY_CHANNELS": json.dumps([
            {"name": "ops", "kind": "webhook", "url": "https://ops.example/hook"},
            {"name": "wecom-ms", "kind": "wecom"},
            {"name": "ding", "kind": "dingtalk"},
        ]),
        "DEHONG_NOTIFY_WECOM_MS_TOKEN": "k1",
        "DEHONG_NOTIFY_DING_TOKEN": "t", "DEHONG_NOTIFY_DING_SECRET": "s",
        "DEHONG_NOTIFY_OPS_HEADERS": '{"Authorization": "Bearer x"}',
    }  # fmt: skip
    chans = channels_from_env(env)
    assert chans["wecom-ms"].token == "k1" and chans["ding"].secret == "s"
    assert chans["ops"].headers == {"Authorization": "Bearer x"}
    bad = [
        ('[{"name": "x", "kind": "fax", "url": "http://a"}]', "kind: 'fax'"),
        ('[{"name": "x", "kind": "webhook", "url": "ftp://a"}]', "x.url"),
        ('[{"name": "x", "kind": "wecom"}]', "x.token"),
        ('[{"name": "x", "kind": "wecom", "token": "inline"}]', "unknown field(s) token"),
        ('[{"name": "x", "kind": "sms", "url": "http://a", "template": {"m": "{phone}"}}]',
         "unknown placeholder(s) phone"),
        ("{not json", "not JSON"),
    ]  # fmt: skip
    for raw, why in bad:
        with pytest.raises(ValueError, match="DEHONG_NOTIFY_CHANNELS") as exc:
            channels_from_env({"DEHONG_NOTIFY_CHANNELS": raw})
        assert why in str(exc.value), (raw, str(exc.value))
    with pytest.raises(ValueError, match="severity"):
        Notification("t", "x", "loud")  # type: ignore[arg-type]


async def test_unknown_channel_is_refused_with_nothing_stored(db: Database) -> None:
    n, _ = notifier(db, Channel("ops", "webhook", url="http://127.0.0.1:9/"))
    with pytest.raises(ValueError, match="channel: 'nope' is not configured"):
        await n.send("nope", MSG)
    await n.aclose()
    async with db.session() as s:
        assert (await s.scalars(select(NotifyDelivery))).all() == []


class Stopped(Exception):
    """The process stops between two attempts."""


async def test_a_personal_message_waits_sealed_and_resumes(db: Database) -> None:
    """A delivery code to a phone, left pending by a process stopped mid-retry: the stored
    row holds neither the phone nor the code (sealed by cloud.pii); a new notifier with
    the keyring sends it; one without it dead-letters it, and no dead letter keeps the
    rendered request. Before the fix the row kept both in clear."""
    from cloud.pii import Keyring

    ring = Keyring.parse("k1:" + base64.b64encode(b"k" * 32).decode())
    code = Notification("签收码 Delivery code", "您的签收码 493817", "info", to=("13912345678",),
                        key="delivery-code", personal=True)  # fmt: skip

    async def stop(_: float) -> None:
        raise Stopped

    with http_receiver([(503, b"busy")]) as rec:
        ch = Channel("sms", "sms", url=rec.url, template={"phones": "{to}", "content": "{text}"})
        n = Notifier(db, {"sms": ch}, max_attempts=3, sleep=stop, keyring=ring)
        with pytest.raises(Stopped):
            await n.send("sms", code)
        await n.aclose()
        async with db.session() as s:
            row = (await s.scalars(select(NotifyDelivery))).one()
        stored = json.dumps(row.message, ensure_ascii=False)
        assert row.status == "pending" and "493817" not in stored and "13912345678" not in stored
        # no keyring: refused before anything is stored
        bare = Notifier(db, {"sms": ch})
        with pytest.raises(ValueError, match="personal"):
            await bare.send("sms", code)
        out = await Notifier(db, {"sms": ch}, keyring=ring).resume()
    assert [o.status for o in out] == ["sent"]
    assert rec.requests[-1].body == {"phones": "13912345678", "content": "您的签收码 493817"}
    async with db.session() as s:
        assert len((await s.scalars(select(NotifyDelivery))).all()) == 1


async def test_a_personal_dead_letter_keeps_no_body(db: Database) -> None:
    from cloud.pii import Keyring

    ring = Keyring.parse("k1:" + base64.b64encode(b"k" * 32).decode())
    code = Notification("签收码", "签收码 493817", "info", to=("13912345678",), personal=True)
    with http_receiver([(400, b"no")]) as rec:
        ch = Channel("sms", "sms", url=rec.url, template={"phones": "{to}", "content": "{text}"})
        out = await Notifier(db, {"sms": ch}, keyring=ring).send("sms", code)
    assert out.status == "dead"
    async with db.session() as s:
        dead = (await s.scalars(select(NotifyDeadLetter))).one()
    assert "493817" not in json.dumps(dead.body) and "13912345678" not in json.dumps(dead.body)
