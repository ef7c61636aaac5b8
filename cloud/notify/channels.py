"""The channels: each renders a :class:`Notification` as one HTTP request and judges
the answer.

- ``webhook``: POST the notification as JSON (``{"title", "text", "severity", "to",
  "data", "key", "sent_at"}``) to a URL, with optional headers (a bearer token).
- ``wecom``: a WeCom (企业微信) group robot, ``POST
  https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY`` with ``{"msgtype":
  "markdown", "markdown": {"content": ...}}``; success is ``errcode == 0``.
- ``dingtalk``: a DingTalk (钉钉) group robot, ``POST
  https://oapi.dingtalk.com/robot/send?access_token=TOKEN`` with ``{"msgtype":
  "markdown", "markdown": {"title", "text"}, "at": {"atMobiles": [...]}}``; with a
  signing secret ("加签") the URL also carries ``timestamp`` (ms) and ``sign`` =
  urlencode(base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))); success is
  ``errcode == 0``.
- ``sms``: a generic SMS gateway's HTTP API: a URL, a method, headers and a JSON
  body *template* whose string values may hold ``{to}`` (the recipients, comma
  separated), ``{title}``, ``{text}``, ``{severity}``, ``{key}``; success is a 2xx
  answer (and, when ``ok_field`` is set, that field of the JSON answer equal to
  ``ok_value``).

A 2xx answer that says "refused" in its body (a robot's errcode) and every 4xx but
408/429 are *permanent*: retrying the same request will not help, so it goes to the
dead-letter table at once. Connection errors, timeouts, 408, 429 and 5xx are retried.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import string
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Literal

from cloud.notify.message import Notification

Kind = Literal["webhook", "wecom", "dingtalk", "sms"]
KINDS: tuple[Kind, ...] = ("webhook", "wecom", "dingtalk", "sms")
WECOM_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
DINGTALK_URL = "https://oapi.dingtalk.com/robot/send"
TEMPLATE_KEYS = frozenset({"to", "title", "text", "severity", "key"})


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Verdict:
    """How an answer is judged: ``ok``, ``retry`` (transient) or ``permanent``."""

    OK = "ok"
    RETRY = "retry"
    PERMANENT = "permanent"


def judge_status(status: int) -> str:
    if 200 <= status < 300:
        return Verdict.OK
    if status in (408, 429) or status >= 500:
        return Verdict.RETRY
    return Verdict.PERMANENT


def _markdown(n: Notification) -> str:
    lines = [f"**{n.title}**", "", n.text]
    if n.data:
        lines += ["", *(f"> {k}: {v}" for k, v in n.data.items())]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Channel:
    """One configured channel. ``name`` is how callers (and the escalation ladder) name
    it; ``secret`` a robot key or signing secret, from the environment, never stored in
    the database nor logged (:meth:`redacted_url`)."""

    name: str
    kind: Kind
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    #: wecom: the robot key; dingtalk: the access token
    token: str = ""
    #: dingtalk: the signing secret ("加签"), optional
    secret: str = ""
    #: sms: the JSON body template and the answer field that says it was taken
    template: dict[str, Any] = field(default_factory=dict)
    method: str = "POST"
    ok_field: str = ""
    ok_value: Any = None

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 64:
            raise ValueError(f"name: {self.name!r} must be 1-64 characters")
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}.kind: {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.kind in ("webhook", "sms"):
            _check_url(self.name, self.url)
        elif self.url:
            _check_url(self.name, self.url)
        if self.kind in ("wecom", "dingtalk") and not (self.token or "?" in self.url):
            what = "key" if self.kind == "wecom" else "access token"
            raise ValueError(f"{self.name}.token: a {self.kind} robot needs its {what}")
        if self.kind == "sms":
            if not self.template:
                raise ValueError(f"{self.name}.template: an SMS channel needs a body template")
            _check_template(self.name, self.template)
        if self.method not in ("POST", "PUT"):
            raise ValueError(f"{self.name}.method: {self.method!r} is not POST or PUT")

    def redacted_url(self) -> str:
        u = urllib.parse.urlsplit(self.request_url(0))
        return urllib.parse.urlunsplit((u.scheme, u.netloc, u.path, "", ""))

    def request_url(self, now_ms: int) -> str:
        if self.kind == "wecom":
            base = self.url or WECOM_URL
            return _with_query(base, {"key": self.token} if self.token else {})
        if self.kind == "dingtalk":
            base = self.url or DINGTALK_URL
            q: dict[str, str] = {"access_token": self.token} if self.token else {}
            if self.secret:
                q.update(timestamp=str(now_ms), sign=dingtalk_sign(self.secret, now_ms))
            return _with_query(base, q)
        return self.url

    def render(self, n: Notification, now_ms: int) -> Request:
        url = self.request_url(now_ms)
        if self.kind == "webhook":
            body = {**n.as_dict(), "sent_at": now_ms}
            return Request("POST", url, body, dict(self.headers))
        if self.kind == "wecom":
            content = _markdown(n)
            body = {"msgtype": "markdown", "markdown": {"content": content}}
            return Request("POST", url, body, dict(self.headers))
        if self.kind == "dingtalk":
            body = {
                "msgtype": "markdown",
                "markdown": {"title": n.title, "text": _markdown(n)},
                "at": {"atMobiles": list(n.to), "isAtAll": False},
            }
            return Request("POST", url, body, dict(self.headers))
        values = {
            "to": ",".join(n.to), "title": n.title, "text": n.text,
            "severity": n.severity, "key": n.key,
        }  # fmt: skip
        return Request(self.method, url, _fill(self.template, values), dict(self.headers))

    def judge(self, status: int, body: bytes) -> tuple[str, str]:
        """``(verdict, reason)`` of an answer."""
        verdict = judge_status(status)
        if verdict != Verdict.OK:
            return verdict, f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
        if self.kind in ("wecom", "dingtalk") or self.ok_field:
            try:
                answer = json.loads(body or b"{}")
            except ValueError:
                return Verdict.PERMANENT, f"HTTP {status} with a body that is not JSON"
            if not isinstance(answer, dict):
                return Verdict.PERMANENT, f"HTTP {status} with a JSON body that is not an object"
            if self.kind in ("wecom", "dingtalk"):
                code = answer.get("errcode")
                if code != 0:
                    # 45009 / 130101: the robot's rate limit (20 a minute): try again later
                    retry = code in (45009, 130101, -1)
                    why = f"errcode {code}: {answer.get('errmsg', '')}"
                    return (Verdict.RETRY if retry else Verdict.PERMANENT), why
            elif answer.get(self.ok_field) != self.ok_value:
                return (
                    Verdict.PERMANENT,
                    f"{self.ok_field} = {answer.get(self.ok_field)!r}, not {self.ok_value!r}",
                )
        return Verdict.OK, ""


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: urlencode(base64(HMAC-SHA256(secret, ts\\nsecret)))."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _with_query(url: str, extra: dict[str, str]) -> str:
    if not extra:
        return url
    sep = "&" if "?" in url else "?"
    return url + sep + urllib.parse.urlencode(extra)


def _check_url(name: str, url: str) -> None:
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise ValueError(f"{name}.url: {url!r} is not an http(s) URL")


def _placeholders(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}


def _check_template(name: str, template: Any, path: str = "template") -> None:
    if isinstance(template, dict):
        for k, v in template.items():
            _check_template(name, v, f"{path}.{k}")
    elif isinstance(template, list):
        for i, v in enumerate(template):
            _check_template(name, v, f"{path}[{i}]")
    elif isinstance(template, str):
        try:
            unknown = _placeholders(template) - TEMPLATE_KEYS
        except ValueError as exc:
            raise ValueError(f"{name}.{path}: {exc}") from None
        if unknown:
            raise ValueError(
                f"{name}.{path}: unknown placeholder(s) {', '.join(sorted(unknown))}; "
                f"use {', '.join(sorted(TEMPLATE_KEYS))}"
            )


def _fill(template: Any, values: dict[str, str]) -> Any:
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    if isinstance(template, str):
        return template.format(**values)
    return template
