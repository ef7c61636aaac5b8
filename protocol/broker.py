"""Broker addresses as URLs: ``mqtt://user:password@host:1883``, ``mqtts://...`` for TLS,
and the TLS context of a client (the gateway's and the cloud's): the CA that signed
the broker's certificate and an optional client certificate."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit


class TlsSetupError(ValueError):
    """A CA or client certificate file that cannot be used; the message names it."""


def tls_context(
    ca_file: str | Path | None = None,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
    *,
    check_hostname: bool = True,
    what: str = "mqtt",
) -> ssl.SSLContext:
    """A client TLS context: verify the broker against ``ca_file`` (None: the system's
    CAs), present ``cert_file``/``key_file`` when given. ``what`` prefixes the setting
    names in errors (``mqtt.tls`` for the gateway, ``DEHONG_MQTT`` for the cloud)."""
    try:
        ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except FileNotFoundError:
        raise TlsSetupError(f"{what} CA file {ca_file} does not exist") from None
    except ssl.SSLError as exc:
        raise TlsSetupError(
            f"{what} CA file {ca_file} holds no usable certificate: {exc}"
        ) from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if key_file and not cert_file:
        raise TlsSetupError(f"{what}: a client key without its certificate; give the cert file")
    if cert_file:
        try:
            ctx.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
        except FileNotFoundError:
            raise TlsSetupError(
                f"{what} client certificate {cert_file} or key {key_file} does not exist"
            ) from None
        except ssl.SSLError as exc:
            raise TlsSetupError(
                f"{what} client certificate {cert_file} / key {key_file} unusable: {exc}"
            ) from None
    if not check_hostname:
        ctx.check_hostname = False
    return ctx


def explain_connect_error(exc: BaseException, ca_file: str | Path | None) -> str:
    """``exc`` from a failed connect, in words that say what to check."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(exc, ssl.SSLCertVerificationError):
        ca = f"the CA in {ca_file}" if ca_file else "the system's CAs (no CA file set)"
        if "hostname" in text.lower() or "IP address mismatch" in text:
            return (
                f"TLS: the broker's certificate does not name the host we connect to ({text}); "
                "connect by a name in its subjectAltName"
            )
        return (
            f"TLS: the broker's certificate is not signed by {ca} ({text}); "
            "give the CA that signed the broker's certificate"
        )
    return text


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    #: TLS: the CA of the broker's certificate (None: the system's), a client certificate
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for ``mqtts://``; None for plain ``mqtt://``."""
        if not self.tls:
            return None
        return tls_context(self.ca_file, self.cert_file, self.key_file, what="DEHONG_MQTT")

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"broker URL {url!r}: scheme must be mqtt:// or mqtts://")
        if not parts.hostname:
            raise ValueError(f"broker URL {url!r}: no host")
        tls = parts.scheme in ("mqtts", "ssl")
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )

    def redacted(self) -> str:
        user = f"{self.username}:***@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"
