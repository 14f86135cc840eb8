"""A small test PKI: a root, a server certificate and client certificates per OIN.

Digikoppeling uses two-way TLS with PKIoverheid certificates that carry the sender's
OIN in the subject's ``serialNumber``. For tests and the demo this module makes the
same shape with a private test root ("BBX TEST root - not PKIoverheid"), written as PEM
files into one folder::

    ca.pem, ca-key.pem                   the test root
    server.pem, server-key.pem           the simulator (localhost, 127.0.0.1, ::1)
    client-<OIN>.pem, client-<OIN>-key.pem   one per OIN, subject serialNumber = OIN
    client-admin.pem, client-admin-key.pem   for the admin API (no OIN)

:func:`make_test_pki` is idempotent: an existing root is reused and only missing
certificates are added, so a demo folder keeps working across restarts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ADMIN = "admin"
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class CertPair:
    """Paths of one certificate and its private key (PEM, key unencrypted)."""

    cert: Path
    key: Path

    def as_tuple(self) -> tuple[str, str]:
        """``(cert, key)`` as strings, the form ``requests``/``httpx`` accept."""
        return str(self.cert), str(self.key)


@dataclass(frozen=True)
class TestPki:
    """Where the files of a test PKI are."""

    __test__ = False  # not a pytest test class

    folder: Path
    ca: Path
    server: CertPair
    clients: dict[str, CertPair] = field(default_factory=dict)

    @property
    def admin(self) -> CertPair:
        return self.clients[ADMIN]

    def client(self, oin: str) -> CertPair:
        try:
            return self.clients[oin]
        except KeyError:
            raise KeyError(f"no client certificate for OIN {oin} in {self.folder}") from None


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    return cert, key  # type: ignore[return-value]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)


def make_root(folder: Path, valid_days: int = 3650) -> CertPair:
    """The test root CA (reused when ``ca.pem`` and ``ca-key.pem`` exist)."""
    folder.mkdir(parents=True, exist_ok=True)
    pair = CertPair(folder / "ca.pem", folder / "ca-key.pem")
    if pair.cert.is_file() and pair.key.is_file():
        return pair
    key = _key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "BBX test"),
            x509.NameAttribute(NameOID.COMMON_NAME, "BBX TEST root - not PKIoverheid"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(pair.key, key)
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pair


def _issue(
    root: CertPair,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    out: CertPair,
    *,
    hosts: tuple[str, ...] = (),
    valid_days: int = 825,
    not_before: dt.datetime | None = None,
) -> CertPair:
    ca_cert, ca_key = _load(root.cert, root.key)
    key = _key()
    start = not_before or _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    out.cert.parent.mkdir(parents=True, exist_ok=True)
    _write_key(out.key, key)
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out


def issue_server_cert(
    folder: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS, valid_days: int = 825, out: CertPair | None = None
) -> CertPair:
    """The simulator's server certificate, signed by the test root in ``folder`` (``out``:
    another server of the same root, e.g. the demo's callback receiver)."""
    root = make_root(folder)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MijnOverheid simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
        ]
    )
    out = out or CertPair(folder / "server.pem", folder / "server-key.pem")
    return _issue(
        root, subject, ExtendedKeyUsageOID.SERVER_AUTH, out, hosts=hosts, valid_days=valid_days
    )


def issue_client_cert(
    folder: Path,
    oin: str,
    *,
    organisation: str = "BBX test sender",
    valid_days: int = 825,
    not_before: dt.datetime | None = None,
    out: CertPair | None = None,
) -> CertPair:
    """A client certificate with subject ``serialNumber = oin`` (PKIoverheid style).

    ``oin="admin"`` makes the admin certificate, which has no serialNumber.
    ``valid_days``/``not_before`` let tests make certificates that expire soon.
    """
    root = make_root(folder)
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
    ]
    if oin == ADMIN:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, "simulator admin"))
    else:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, oin))
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, f"bbx-{oin}"))
    out = out or CertPair(folder / f"client-{oin}.pem", folder / f"client-{oin}-key.pem")
    return _issue(
        root,
        x509.Name(attributes),
        ExtendedKeyUsageOID.CLIENT_AUTH,
        out,
        valid_days=valid_days,
        not_before=not_before,
    )


def make_test_pki(
    folder: Path | str,
    oins: list[str] | tuple[str, ...] = (),
    hosts: tuple[str, ...] = DEFAULT_HOSTS,
) -> TestPki:
    """Make (or complete) a test PKI in ``folder`` for the simulator and the given OINs.

    Existing files are kept, so calling it again with more OINs only adds certificates.
    Returns the paths of everything, including an admin client certificate.
    """
    folder = Path(folder)
    root = make_root(folder)
    server = CertPair(folder / "server.pem", folder / "server-key.pem")
    if not (server.cert.is_file() and server.key.is_file()):
        issue_server_cert(folder, hosts)
    clients: dict[str, CertPair] = {}
    for oin in (*oins, ADMIN):
        pair = CertPair(folder / f"client-{oin}.pem", folder / f"client-{oin}-key.pem")
        if not (pair.cert.is_file() and pair.key.is_file()):
            issue_client_cert(folder, oin)
        clients[oin] = pair
    for found in sorted(folder.glob("client-*-key.pem")):  # certificates made earlier
        oin = found.name[len("client-") : -len("-key.pem")]
        clients.setdefault(oin, CertPair(folder / f"client-{oin}.pem", found))
    return TestPki(folder=folder, ca=root.cert, server=server, clients=clients)


def oin_from_subject(subject: tuple) -> str | None:
    """The ``serialNumber`` of a peer certificate's subject, as ``ssl.getpeercert()``
    returns it (a tuple of RDNs, each a tuple of (name, value) pairs)."""
    for rdn in subject or ():
        for name, value in rdn:
            if name == "serialNumber":
                return value
    return None
