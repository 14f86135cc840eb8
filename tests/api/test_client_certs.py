"""Client certificates (mTLS) for the web service (issue 19): the real app in uvicorn over
real TLS, asking for client certificates of a test CA (simulator.pki), and behind a
"proxy" that passes the certificate in a header. Right certificate → its tenant; another
tenant's certificate → only that tenant; none, unknown or untrusted → 401 with BBX's
error code."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from api_helpers import TENANT_A, auth, bsns

from bbx.api import client_certs
from bbx.store import client_subjects
from simulator.pki import ADMIN, issue_client_cert, issue_server_cert

OIN_A = "00000001001234567000"  # connection voorbeeld of tenant A (sample configuration)
OIN_B = "00000003123456780000"  # connection pf_metaal of tenant B
OIN_NOBODY = "00000009999999999000"


@contextmanager
def _serve(app, **options):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def pki(tmp_path) -> Path:
    issue_server_cert(tmp_path, hosts=("127.0.0.1", "localhost"))
    for oin in (OIN_A, OIN_B, OIN_NOBODY, ADMIN):
        issue_client_cert(tmp_path, oin)
    issue_client_cert(tmp_path / "other-ca", OIN_A)  # right OIN, a CA BBX does not trust
    return tmp_path


def _cert(pki: Path, oin: str, folder: str = "") -> tuple[str, str]:
    base = pki / folder if folder else pki
    return str(base / f"client-{oin}.pem"), str(base / f"client-{oin}-key.pem")


@pytest.fixture
def tls(app, keys, pki, monkeypatch):
    """https://127.0.0.1:port, uvicorn terminating TLS and asking for client certificates."""
    monkeypatch.delenv("BBX_API_CLIENT_CA", raising=False)
    options = client_certs.uvicorn_options(str(pki / "server.pem"), str(pki / "server-key.pem"), str(pki / "ca.pem"))
    assert options["http"] is client_certs.ClientCertH11Protocol
    monkeypatch.setenv("BBX_API_CLIENT_CA", str(pki / "ca.pem"))  # set by uvicorn_options; undone after the test
    with _serve(app, **options) as port:
        yield f"https://127.0.0.1:{port}"


def _client(base: str, pki: Path, cert=None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if cert is not None:
        context.load_cert_chain(*cert)  # httpx 0.28 leaves cert= out when verify is a path
    return httpx.Client(base_url=base, verify=context, timeout=30)


def _codes(response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(c["code"] for c in response.json()["connections"])


def test_a_tenants_certificate_acts_for_that_tenant_only(tls, pki, keys):
    with _client(tls, pki, _cert(pki, OIN_A)) as a:
        assert _codes(a.get("/api/v1/connections")) == ["voorbeeld"]
        wrong = a.get("/api/v1/connections", headers=auth("bbx_wrong_key"))
        assert wrong.status_code == 401  # a wrong key is refused, not passed over for the certificate
        assert wrong.json()["error"]["code"] == "invalid_api_key"
    with _client(tls, pki, _cert(pki, OIN_B)) as b:
        assert _codes(b.get("/api/v1/connections")) == ["pf_metaal", "pf_zorg"]
        refused = b.get("/api/v1/connections/voorbeeld")
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "connection_not_found"
        # an API key in the same request wins over the certificate
        assert _codes(b.get("/api/v1/connections", headers=auth(keys.a))) == ["voorbeeld"]


def test_a_submission_by_certificate_names_it_as_submitter(tls, pki, configured):
    import uuid

    with _client(tls, pki, _cert(pki, OIN_A)) as a:
        response = a.post("/api/v1/connections/voorbeeld/messages", json={"message_type": "PASPRT", "bsns": bsns(2)},
                          headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code in (201, 202), response.text
    row = configured.execute("SELECT submitted_by FROM submissions ORDER BY id DESC LIMIT 1").fetchone()
    assert row["submitted_by"] == f"client-cert:{OIN_A}"


def test_no_or_unknown_certificate_is_refused_with_a_bbx_error(tls, pki):
    with _client(tls, pki) as anonymous:
        response = anonymous.get("/api/v1/connections")
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"
    with _client(tls, pki, _cert(pki, OIN_NOBODY)) as nobody:
        response = nobody.get("/api/v1/connections")
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == "unknown_client_certificate" and OIN_NOBODY in error["message"]
    # a certificate of a CA that BBX does not trust does not get through the handshake
    with _client(tls, pki, _cert(pki, OIN_A, "other-ca")) as stranger, pytest.raises(httpx.TransportError):
        stranger.get("/api/v1/connections")


def test_a_registered_subject_maps_a_certificate_without_oin(tls, pki, configured):
    cert = _cert(pki, ADMIN)
    with _client(tls, pki, cert) as c:
        assert c.get("/api/v1/connections").json()["error"]["code"] == "unknown_client_certificate"
        from cryptography import x509

        subject = x509.load_pem_x509_certificate(Path(cert[0]).read_bytes()).subject.rfc4514_string()
        client_subjects.add(configured, tenant_code=TENANT_A, subject=subject, actor="test")
        configured.commit()
        assert _codes(c.get("/api/v1/connections")) == ["voorbeeld"]
        assert client_subjects.remove(configured, subject=subject, actor="test")
        configured.commit()
        assert c.get("/api/v1/connections").status_code == 401


def _pem(pki: Path, oin: str, folder: str = "") -> str:
    return quote(Path(_cert(pki, oin, folder)[0]).read_text())  # as nginx's $ssl_client_escaped_cert


def test_behind_a_proxy_the_header_counts_only_from_trusted_addresses(app, keys, pki, monkeypatch):
    monkeypatch.setenv("BBX_API_CLIENT_CA", str(pki / "ca.pem"))
    monkeypatch.setenv("BBX_API_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    with _serve(app) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as proxy:
        def get(oin, folder="", header="X-SSL-Client-Cert"):
            return proxy.get("/api/v1/connections", headers={header: _pem(pki, oin, folder)})

        assert _codes(get(OIN_A)) == ["voorbeeld"]
        assert _codes(get(OIN_B)) == ["pf_metaal", "pf_zorg"]
        untrusted = get(OIN_A, "other-ca")  # the proxy let it through: BBX checks the CA itself
        assert untrusted.status_code == 401
        assert untrusted.json()["error"]["code"] == "invalid_client_certificate"
        assert get(OIN_A, header="X-Other").json()["error"]["code"] == "unauthenticated"
        garbled = proxy.get("/api/v1/connections", headers={"X-SSL-Client-Cert": "not-a-certificate"})
        assert garbled.json()["error"]["code"] == "invalid_client_certificate"

        monkeypatch.setenv("BBX_API_TRUSTED_PROXIES", "10.0.0.0/8")  # 127.0.0.1 no longer a proxy
        spoofed = get(OIN_A)
        assert spoofed.status_code == 401 and spoofed.json()["error"]["code"] == "unauthenticated"

        monkeypatch.delenv("BBX_API_CLIENT_CA")  # client certificates off: the header means nothing
        monkeypatch.setenv("BBX_API_TRUSTED_PROXIES", "127.0.0.1")
        assert get(OIN_A).json()["error"]["code"] == "unauthenticated"
