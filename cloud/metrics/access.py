"""Who may scrape: the bearer token Prometheus sends (``DEHONG_METRICS_TOKEN``), and
the exposition format it asked for (Prometheus text or OpenMetrics)."""

from __future__ import annotations

import hmac
import ipaddress

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

HOW_TO = (
    "set DEHONG_METRICS_TOKEN (python -c 'import secrets; print(secrets.token_urlsafe(48))') "
    "and have Prometheus send it: authorization: {type: Bearer, credentials_file: ...}"
)


def token_ok(authorization: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>`` matches (constant time); False without a token."""
    if not token or not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listener(host: str, token: str | None) -> None:
    """ValueError for a metrics listener open to the network without a scrape token."""
    if not token and not is_loopback(host):
        raise ValueError(
            f"the metrics listener on {host} would be open to the network; {HOW_TO} "
            "(or keep DEHONG_INGEST_METRICS_HOST on 127.0.0.1)"
        )


def render(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The registry in the format ``accept`` asks for: (body, content type)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
