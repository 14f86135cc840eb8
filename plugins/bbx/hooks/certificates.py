"""Checks of a ``berichtenbox`` connection's certificates: before BBX uses them.

Checked by ``bbx airflow setup``, by the hook on first use (start-up of a task) and by
*Test* in the connection form (``BerichtenboxHook.test_connection``):

* the client certificate and key files exist and parse, and the key belongs to the
  certificate;
* the certificate is valid today and not within ``WARN_DAYS`` of its end (that is a
  warning, returned separately);
* its subject carries the connection's OIN as ``serialNumber`` (PKIoverheid style);
* it was issued by a certificate in the trust chain file (signature verified), and every
  certificate of that chain is itself valid today.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

WARN_DAYS = 30


def _load_all(path: Path):
    from cryptography import x509

    return x509.load_pem_x509_certificates(path.read_bytes())


def _valid_now(cert, now: datetime) -> str | None:
    if now < cert.not_valid_before_utc:
        return f"not valid before {cert.not_valid_before_utc:%Y-%m-%d}"
    if now > cert.not_valid_after_utc:
        return f"expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    return None


def subject_oin(cert) -> str | None:
    from cryptography.x509.oid import NameOID

    found = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    return found[0].value if found else None


def check(client_cert: str, ca_cert: str, *, oin: str | None = None, key: str | None = None,
          now: datetime | None = None, warnings: list[str] | None = None) -> list[str]:
    """Problems (empty: usable). ``warnings`` collects the not-yet-fatal ones."""
    from cryptography.hazmat.primitives import serialization

    now = now or datetime.now(UTC)
    problems: list[str] = []
    for label, path in (("client certificate", client_cert), ("trust chain", ca_cert), ("client key", key)):
        if path is not None and not Path(path).is_file():
            problems.append(f"{label} file {path!r} does not exist")
    if problems:
        return problems
    try:
        certs = _load_all(Path(client_cert))
    except ValueError as exc:
        return [f"client certificate {client_cert!r} is not a PEM certificate ({exc})"]
    try:
        chain = _load_all(Path(ca_cert))
    except ValueError as exc:
        return [f"trust chain {ca_cert!r} is not a PEM file of certificates ({exc})"]
    cert = certs[0]
    if (bad := _valid_now(cert, now)) is not None:
        problems.append(f"client certificate {client_cert!r} {bad}")
    elif warnings is not None and cert.not_valid_after_utc - now < timedelta(days=WARN_DAYS):
        warnings.append(f"client certificate {client_cert!r} expires on {cert.not_valid_after_utc:%Y-%m-%d} "
                        f"(within {WARN_DAYS} days): order a new one")
    found_oin = subject_oin(cert)
    if oin is not None and found_oin != oin:
        problems.append(f"client certificate {client_cert!r} has OIN {found_oin or 'none'} in its subject "
                        f"(serialNumber), the connection's OIN is {oin}")
    if key is not None:
        try:
            private = serialization.load_pem_private_key(Path(key).read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            problems.append(f"client key {key!r} cannot be read ({exc})")
        else:
            if private.public_key().public_numbers() != cert.public_key().public_numbers():
                problems.append(f"client key {key!r} does not belong to the certificate {client_cert!r}")
    issuers = [c for c in chain + certs[1:] if c.subject == cert.issuer]
    verified = False
    for issuer in issuers:
        try:
            cert.verify_directly_issued_by(issuer)
            verified = True
            if (bad := _valid_now(issuer, now)) is not None:
                problems.append(f"issuer {issuer.subject.rfc4514_string()} in {ca_cert!r} {bad}")
            break
        except Exception:  # a signature that does not verify: not this issuer
            continue
    if not verified:
        problems.append(f"client certificate {client_cert!r} (issuer {cert.issuer.rfc4514_string()}) was not "
                        f"issued by a certificate in the trust chain {ca_cert!r}")
    return problems


FAIL_DAYS = 7  # the daily certificate watch fails this close to an end date (it warns from WARN_DAYS)


def expiry(client_cert: str, ca_cert: str, *, now: datetime | None = None) -> tuple[list[str], list[str]]:
    """(warnings, failures) for the end dates of the client certificate and of every
    certificate in the trust chain: a warning within ``WARN_DAYS``, a failure within
    ``FAIL_DAYS`` (the daily certificate watch; ``check`` refuses only what is unusable)."""
    now = now or datetime.now(UTC)
    warnings: list[str] = []
    failures: list[str] = []
    for label, path in (("client certificate", client_cert), ("trust chain certificate", ca_cert)):
        if not Path(path).is_file():
            continue  # check() names the missing file
        try:
            certs = _load_all(Path(path))
        except ValueError:
            continue  # check() says it is not PEM
        for cert in certs[:1] if label == "client certificate" else certs:
            left = cert.not_valid_after_utc - now
            if left <= timedelta(0):
                continue  # expired: check() reports it
            what = (f"{label} {cert.subject.rfc4514_string()} in {path!r} expires on "
                    f"{cert.not_valid_after_utc:%Y-%m-%d} (in {left.days} days)")
            if left < timedelta(days=FAIL_DAYS):
                failures.append(f"{what}: within {FAIL_DAYS} days, replace it now")
            elif left < timedelta(days=WARN_DAYS):
                warnings.append(f"{what}: within {WARN_DAYS} days, order a new one")
    return warnings, failures
