"""Client certificates (mutual TLS) for the web service, an option next to API keys.

Off unless ``BBX_API_CLIENT_CA`` names a PEM file of the CA certificates that issue
tenants' client certificates (e.g. PKIoverheid Private Services). The certificate reaches
BBX in one of two ways:

1. **BBX's own server terminates TLS** (``bbx api serve --ssl-certfile … --ssl-keyfile …
   --ssl-ca-certs CA --ssl-cert-reqs optional``): uvicorn verifies the certificate in the
   handshake; :class:`ClientCertH11Protocol` hands the verified peer certificate to the
   request (uvicorn itself passes no TLS details to the app).
2. **A reverse proxy terminates TLS** and passes the verified certificate as URL-encoded
   PEM in a header (nginx ``$ssl_client_escaped_cert``; header name
   ``BBX_API_CLIENT_CERT_HEADER``, default ``X-SSL-Client-Cert``). The header counts only
   on connections from an address in ``BBX_API_TRUSTED_PROXIES`` (comma-separated IPs or
   networks); from anywhere else it is ignored and logged, so nobody can claim a tenant by
   sending the header themselves.

Either way BBX checks the certificate once more against ``BBX_API_CLIENT_CA`` (issued and
signed by one of those CAs, valid today, not a CA itself) and then maps it to a tenant: a
subject configured for a tenant (``bbx client-cert add``) first, else the OIN in the
subject's ``serialNumber`` (PKIoverheid) against the connections' OINs. An API key in the
same request wins over the certificate.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

from uvicorn.protocols.http.h11_impl import H11Protocol

from bbx.api.errors import ApiError
from bbx.api.principal import Principal
from bbx.i18n import _

log = logging.getLogger(__name__)

STATE_KEY = "bbx_peer_certificate"  # DER bytes of the verified TLS peer certificate (request.state)
DEFAULT_HEADER = "X-SSL-Client-Cert"


class ClientCertH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus the TLS peer certificate in every request's state.

    uvicorn copies ``app_state`` into each request's ``scope["state"]``; one protocol
    instance serves one TCP connection, so the certificate of that connection's
    handshake (already verified by ``ssl_ca_certs``) goes with each of its requests."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            self.app_state = {**self.app_state, STATE_KEY: der}


def ca_file() -> Path | None:
    value = os.environ.get("BBX_API_CLIENT_CA", "").strip()
    return Path(value) if value else None


@lru_cache(maxsize=8)
def _cas(path: str, mtime: float) -> tuple:
    from cryptography import x509

    return tuple(x509.load_pem_x509_certificates(Path(path).read_bytes()))


def _trusted_proxies() -> list:
    value = os.environ.get("BBX_API_TRUSTED_PROXIES", "")
    return [ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()]


def _from_trusted_proxy(request) -> bool:
    client = request.client.host if request.client else None
    try:
        address = ipaddress.ip_address(client)
    except (TypeError, ValueError):
        return False
    return any(address in network for network in _trusted_proxies())


def presented(request):
    """The client certificate of this request (a cryptography certificate), or None."""
    from cryptography import x509

    der = request.scope.get("state", {}).get(STATE_KEY)
    if der:
        return x509.load_der_x509_certificate(der)
    header = os.environ.get("BBX_API_CLIENT_CERT_HEADER", DEFAULT_HEADER)
    value = request.headers.get(header)
    if not value:
        return None
    if not _from_trusted_proxy(request):
        log.warning("ignored %s header from %s: not in BBX_API_TRUSTED_PROXIES", header,
                    request.client.host if request.client else "?")
        return None
    try:
        return x509.load_pem_x509_certificate(unquote(value).encode())
    except ValueError:
        raise _invalid(_("The client certificate passed by the proxy is not a PEM certificate.")) from None


def _invalid(message: str) -> ApiError:
    return ApiError(401, "invalid_client_certificate", message, headers={"WWW-Authenticate": "Bearer"})


def verify(cert, ca_path: Path, *, now: datetime | None = None) -> None:
    """Raise ``invalid_client_certificate`` unless one of the CAs issued ``cert`` and it is
    valid now and not a CA certificate."""
    from cryptography import x509

    now = now or datetime.now(UTC)
    if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
        raise _invalid(_("Your client certificate is not valid today (valid {start} to {end}).",
                         start=cert.not_valid_before_utc.strftime("%Y-%m-%d"),
                         end=cert.not_valid_after_utc.strftime("%Y-%m-%d")))
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise _invalid(_("A CA certificate cannot be used as a client certificate."))
    except x509.ExtensionNotFound:
        pass
    for issuer in _cas(str(ca_path), ca_path.stat().st_mtime):
        if issuer.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(issuer)
        except Exception:  # another key under the same name: not this issuer
            continue
        if issuer.not_valid_before_utc <= now <= issuer.not_valid_after_utc:
            return
    raise _invalid(_("Your client certificate was not issued by a CA that BBX trusts for the web service "
                     "(issuer {issuer}).", issuer=cert.issuer.rfc4514_string()))


def principal(request, conn):
    """The tenant of the request's client certificate; None when none was presented (or
    client certificates are off). Refuses a certificate that does not verify or maps to
    no tenant."""
    from bbx.hooks.certificates import subject_oin
    from bbx.store import client_subjects

    path = ca_file()
    if path is None:
        return None
    cert = presented(request)
    if cert is None:
        return None
    verify(cert, path)
    subject = cert.subject.rfc4514_string()
    oin = subject_oin(cert)
    tenant = client_subjects.tenant_for(conn, subject=subject, oin=oin)
    if tenant is None:
        raise ApiError(401, "unknown_client_certificate",
                       _("No tenant uses the client certificate {subject}: ask your BBX operator to register its "
                         "subject, or use a certificate with your connection's OIN as serialNumber.",
                         subject=subject), headers={"WWW-Authenticate": "Bearer"})
    fingerprint = hashlib.sha256(cert.public_bytes(_der())).hexdigest()[:16]
    return Principal(f"client-cert:{oin or fingerprint}", "tenant", tenant["id"], tenant["code"],
                     f"{subject} ({tenant['code']}, client certificate)", "client_cert")


def _der():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def uvicorn_options(certfile: str | None, keyfile: str | None, ca_certs: str | None,
                    cert_reqs: str = "optional") -> dict:
    """uvicorn.run() options for BBX's own server terminating TLS, asking for client
    certificates of ``ca_certs`` (which then also become ``BBX_API_CLIENT_CA``, unless set)."""
    import ssl

    if not certfile:
        return {}
    options = {"ssl_certfile": certfile, "ssl_keyfile": keyfile, "http": ClientCertH11Protocol}
    if ca_certs:
        options.update(ssl_ca_certs=ca_certs, ssl_cert_reqs={
            "none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}[cert_reqs])
        os.environ.setdefault("BBX_API_CLIENT_CA", ca_certs)
    return options
