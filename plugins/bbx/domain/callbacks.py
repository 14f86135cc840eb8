"""Status callbacks (issue 18): what BBX posts to a tenant's HTTPS URL, how it is signed,
and how often it is tried.

Signature (Stripe style, so tenants know it): header ``BBX-Signature: t=<unix seconds>,
v1=<hex HMAC-SHA256 of "<t>.<raw body>" under the connection's secret>``. A receiver
recomputes it over the raw body, compares in constant time and refuses a ``t`` older than
:data:`TOLERANCE_SECONDS` (a replayed post). :func:`verify` is that check, and the snippet
in docs/api.md is the same code.

Retries: a post that does not get a 2xx within :data:`TIMEOUT_SECONDS` is tried again after
``BASE_DELAY_SECONDS * 2**(attempts-1)`` (30 s, 1 min, 2 min, … capped at
:data:`MAX_DELAY_SECONDS`), at most :data:`MAX_ATTEMPTS` times in all (about 17 hours);
then it is listed as a failed delivery.

Secrets: registered through the web service, BBX makes the secret (:func:`new_secret`) and
keeps it encrypted; set in the tenant configuration (``callback.secret_variable``), the
secret lives in Airflow's secrets chain under that Variable name and never in a file or in
BBX's database. Either way it must be at least :data:`MIN_SECRET_CHARS` characters.

Trust: the receiver's certificate is always verified (host name and chain). Besides the
public CAs, BBX trusts the deployment's ``BBX_CALLBACK_CA_FILE`` and a connection's own CA
bundle (``callback.ca_file`` in the tenant configuration) — for a receiver behind a private
CA; :func:`check_ca_bundle` is the check of such a bundle.

Retention of the outbox: a delivered event is kept :data:`KEEP_DELIVERED_DAYS` (enough to
answer "did you post it?"), a failed one :data:`KEEP_FAILED_DAYS` (the tenant must have time
to see and retry it); events still being tried are never removed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import ssl
import time
from urllib.parse import urlsplit

from bbx.i18n import _

HEADER = "BBX-Signature"
EVENTS = ("submission.accepted", "submission.closed", "messages.final")
MESSAGES_PER_EVENT = 1000  # per-message final outcomes are posted in pages of this size
MAX_ATTEMPTS = 12
BASE_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 4 * 3600
TIMEOUT_SECONDS = 10
TOLERANCE_SECONDS = 300
KEEP_DELIVERED_DAYS = 30
KEEP_FAILED_DAYS = 90
MIN_SECRET_CHARS = 32


class CallbackUrlError(ValueError):
    pass


def check_url(url: str) -> str:
    try:
        parts = urlsplit((url or "").strip())
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        host = None
    if host is None or parts.scheme != "https" or any(c.isspace() or ord(c) < 32 for c in url.strip()):
        raise CallbackUrlError(_("The callback URL must be an https:// address with a host name."))
    if parts.username or parts.password:
        raise CallbackUrlError(_("The callback URL must not hold a user name or password; BBX signs every "
                                 "post instead (BBX-Signature)."))
    if len(url) > 2000:
        raise CallbackUrlError(_("The callback URL is longer than 2000 characters."))
    return url.strip()


class CallbackSecretError(ValueError):
    pass


def check_secret(secret: str | None, variable: str) -> str:
    """The configured secret held by the Airflow Variable ``variable`` (operator-facing)."""
    if secret is None:
        raise CallbackSecretError(f"the Airflow Variable {variable!r} with the callback secret is not set in any "
                                  "secrets backend (nor as AIRFLOW_VAR_" + variable.upper() + ")")
    if len(secret.strip()) < MIN_SECRET_CHARS:
        raise CallbackSecretError(f"the callback secret in the Airflow Variable {variable!r} is "
                                  f"{len(secret.strip())} characters; use at least {MIN_SECRET_CHARS} random ones "
                                  "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return secret.strip()


class CallbackCaError(ValueError):
    pass


def check_ca_bundle(pem: str) -> str:
    """A PEM bundle of CA certificates to trust for a connection's receiver (operator-facing)."""
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise CallbackCaError("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise CallbackCaError(f"is not a readable PEM bundle of CA certificates: {exc}") from None
    return pem


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, now: int | None = None,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """The receiver's check (see the module doc)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs((int(time.time()) if now is None else now) - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


def delay_after(attempts: int) -> int:
    """Seconds to wait after the ``attempts``-th failed try (1 = the first)."""
    return min(BASE_DELAY_SECONDS * 2 ** max(attempts - 1, 0), MAX_DELAY_SECONDS)
