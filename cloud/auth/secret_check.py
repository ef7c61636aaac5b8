"""Refuse placeholder and low-entropy secrets before a service starts.

A secret is refused when it is a known placeholder (the values shipped in
``deploy/env.example`` and the like), shorter than :data:`MIN_SECRET_LENGTH`,
repeats a short pattern, or keeps fewer than :data:`MIN_ENTROPY_BITS` bits of
(empirical, per-character Shannon) entropy once words such as "change", "secret",
"password" and runs such as "abcd" or "1234" are taken out. Generated values
(``secrets.token_urlsafe(48)``, ``openssl rand -hex 32``) always pass; anything a
person types as a stand-in does not.

Passwords inside URLs (database, broker) are checked for placeholders only: their
strength is the server's business, a value copied from the example file is ours.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from urllib.parse import urlsplit

from cloud.settings import DEMO_JWT_SECRET, Settings

MIN_SECRET_LENGTH = 32
MIN_ENTROPY_BITS = 100.0

HOW_TO = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"

#: Values that are stand-ins wherever they appear (compared case-insensitively).
PLACEHOLDERS = frozenset(
    {
        "change-me",
        "changeme",
        "change_me",
        "change-me-to-64-random-characters",
        "printed-by-dehong-cloud-init-db",
        "secret",
        "password",
        "passwd",
        "replace-me",
        "replaceme",
        "todo",
        "xxx",
        "example",
        "placeholder",
        "set-in-env",
    }
)

#: Stand-in words: a value made of them is a placeholder, however long.
_WORDS = re.compile(
    r"change|replace|placeholder|example|secret|passw(?:or)?d|default|demo|test|admin|"
    r"dehong|random|characters|token|please|your|printed|init|cloud|long|value|here|jwt|key",
    re.IGNORECASE,
)
_MARKERS = re.compile(
    r"change[-_ ]?me|replace[-_ ]?(?:me|with)|placeholder|printed[-_]by|example|<.*>",
    re.IGNORECASE,
)


class WeakSecretError(ValueError):
    """A secret that must not be served with; the message names the setting and the fix."""


def _shannon_bits(text: str) -> float:
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values()) * n


def _strip_runs(text: str, length: int = 4) -> str:
    """``text`` without runs of ``length``+ characters stepping by +1 or -1 (abcd, 4321)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        j = i + 1
        step = ord(text[j]) - ord(text[i]) if j < len(text) else 0
        if step in (1, -1):
            while j < len(text) and ord(text[j]) - ord(text[j - 1]) == step:
                j += 1
            if j - i >= length:
                i = j
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _period(text: str) -> int:
    """The shortest p such that ``text`` repeats its first p characters."""
    for p in range(1, len(text) // 2 + 1):
        if all(text[i] == text[i % p] for i in range(len(text))):
            return p
    return len(text)


def is_placeholder(value: str) -> bool:
    v = value.strip().lower()
    return v in PLACEHOLDERS or bool(_MARKERS.search(v))


def entropy_bits(value: str) -> float:
    """Estimated bits of a secret: Shannon entropy of what is left without stand-in words
    and keyboard/alphabet runs."""
    return _shannon_bits(_strip_runs(_WORDS.sub("", value)))


def check_secret(name: str, value: str) -> None:
    """Raise :class:`WeakSecretError` naming ``name`` (e.g. ``DEHONG_JWT_SECRET``)."""
    if is_placeholder(value):
        raise WeakSecretError(f"{name} is a placeholder, not a secret; {HOW_TO}")
    if len(value) < MIN_SECRET_LENGTH:
        raise WeakSecretError(
            f"{name} is {len(value)} characters, at least {MIN_SECRET_LENGTH} are needed; {HOW_TO}"
        )
    if _period(value) <= len(value) // 2:
        raise WeakSecretError(f"{name} repeats a short pattern; {HOW_TO}")
    bits = entropy_bits(value)
    if bits < MIN_ENTROPY_BITS:
        raise WeakSecretError(
            f"{name} looks guessable (about {bits:.0f} bits of entropy, at least "
            f"{MIN_ENTROPY_BITS:.0f} needed); {HOW_TO}"
        )


def check_url_password(name: str, url: str) -> None:
    """Refuse a URL whose password is a known placeholder (e.g. from env.example)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return  # not a URL we can read; the client reports it when it connects
    if password and is_placeholder(password):
        raise WeakSecretError(
            f"{name} carries a placeholder password ({password!r}); set the real one "
            f"(for the broker: `dehong cloud service-account ensure` prints it; "
            f"for PostgreSQL: the POSTGRES_PASSWORD you chose; {HOW_TO})"
        )


def check_settings(settings: Settings, *, jwt: bool) -> None:
    """Every secret a service starts with: the JWT secret (``jwt``: the API), the scrape
    token, and the passwords in the database and broker URLs and of InfluxDB. The
    marked demo JWT secret passes only with ``DEHONG_DEMO=1``."""
    if jwt:
        secret = settings.jwt_secret.get_secret_value()
        if secret != DEMO_JWT_SECRET:
            check_secret("DEHONG_JWT_SECRET", secret)
        elif not settings.demo:
            raise WeakSecretError(
                f"DEHONG_JWT_SECRET is the demo default, allowed only with DEHONG_DEMO=1; {HOW_TO}"
            )
    metrics_token = settings.metrics_token.get_secret_value()
    if metrics_token:
        check_secret("DEHONG_METRICS_TOKEN", metrics_token)
    check_url_password("DEHONG_DATABASE_URL", settings.database_url)
    check_url_password("DEHONG_MQTT_URL", settings.mqtt_url)
    influx_password = settings.influx_password.get_secret_value()
    if influx_password and is_placeholder(influx_password):
        raise WeakSecretError(f"DEHONG_INFLUX_PASSWORD is a placeholder; {HOW_TO}")
