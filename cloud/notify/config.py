"""Channel configuration from the environment (prefix ``DEHONG_NOTIFY_``).

``DEHONG_NOTIFY_CHANNELS`` is a JSON list of channels without their secrets, e.g.::

    [{"name": "ops", "kind": "webhook", "url": "https://ops.example/hook"},
     {"name": "wecom-mangshi", "kind": "wecom"},
     {"name": "ding", "kind": "dingtalk"},
     {"name": "sms", "kind": "sms", "url": "https://sms.example/send",
      "template": {"phones": "{to}", "content": "【德宏冷链】{title} {text}"}}]

Each channel's secret comes from its own variable, upper-cased name with ``-`` as
``_``: ``DEHONG_NOTIFY_WECOM_MANGSHI_TOKEN`` (the WeCom robot key),
``DEHONG_NOTIFY_DING_TOKEN`` and ``DEHONG_NOTIFY_DING_SECRET`` (DingTalk access token
and signing secret), ``DEHONG_NOTIFY_SMS_HEADERS`` (JSON headers, e.g. the SMS
gateway's API key). Nothing secret is in the repository or the database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from cloud.notify.channels import Channel

PREFIX = "DEHONG_NOTIFY_"
ALLOWED = frozenset(
    {"name", "kind", "url", "headers", "template", "method", "ok_field", "ok_value"}
)


def _secret_var(name: str, what: str) -> str:
    return f"{PREFIX}{name.upper().replace('-', '_').replace('.', '_')}_{what}"


def channels_from_env(env: Mapping[str, str] | None = None) -> dict[str, Channel]:
    """The channels ``DEHONG_NOTIFY_CHANNELS`` names, with their secrets; ValueError
    naming the entry and field when the configuration is wrong."""
    env = os.environ if env is None else env
    raw = env.get(f"{PREFIX}CHANNELS", "").strip()
    if not raw:
        return {}
    try:
        entries = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{PREFIX}CHANNELS: not JSON ({exc})") from None
    if not isinstance(entries, list):
        raise ValueError(f"{PREFIX}CHANNELS: a JSON list of channels is expected")
    out: dict[str, Channel] = {}
    for i, entry in enumerate(entries):
        where = f"{PREFIX}CHANNELS[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: a JSON object is expected")
        extra = set(entry) - ALLOWED
        if extra:
            raise ValueError(
                f"{where}: unknown field(s) {', '.join(sorted(extra))} (secrets go in "
                f"their own variables, e.g. {_secret_var(str(entry.get('name', 'x')), 'TOKEN')})"
            )
        name = str(entry.get("name", ""))
        if name in out:
            raise ValueError(f"{where}.name: {name!r} is configured twice")
        headers: dict[str, Any] = dict(entry.get("headers") or {})
        secret_headers = env.get(_secret_var(name, "HEADERS"), "")
        if secret_headers:
            try:
                headers.update(json.loads(secret_headers))
            except ValueError as exc:
                raise ValueError(f"{_secret_var(name, 'HEADERS')}: not JSON ({exc})") from None
        try:
            out[name] = Channel(
                name=name,
                kind=entry.get("kind", ""),
                url=str(entry.get("url", "")),
                headers={str(k): str(v) for k, v in headers.items()},
                token=env.get(_secret_var(name, "TOKEN"), ""),
                secret=env.get(_secret_var(name, "SECRET"), ""),
                template=dict(entry.get("template") or {}),
                method=str(entry.get("method", "POST")),
                ok_field=str(entry.get("ok_field", "")),
                ok_value=entry.get("ok_value"),
            )
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return out
