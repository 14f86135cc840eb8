"""Transport: HTTPS only, TLS >= 1.2, a client certificate from the right root, and the
caller's OIN taken from the certificate subject's serialNumber."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from simulator.client import client_context
from simulator.pki import make_test_pki
from simulator.testing import SENDER_A, STRANGER


def _get(simulator, path: str, context: ssl.SSLContext) -> httpx.Response:
    with httpx.Client(verify=context, timeout=10) as client:
        return client.get(simulator.base_url + path)


def test_mutual_tls_with_a_sender_certificate_works(simulator):
    context = client_context(simulator.pki.ca, simulator.cert(SENDER_A))
    response = _get(simulator, "/service/ebms?wsdl", context)
    assert response.status_code == 200
    assert f'location="{simulator.ebms_url}"' in response.text


def test_tls_without_a_client_certificate_fails(simulator):
    context = client_context(simulator.pki.ca, None)
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        _get(simulator, "/admin/health", context)


def test_a_certificate_from_another_root_fails(simulator, tmp_path):
    rogue = make_test_pki(tmp_path / "rogue", [SENDER_A])  # same OIN, wrong root
    context = client_context(simulator.pki.ca, rogue.client(SENDER_A))
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        _get(simulator, "/admin/health", context)


def test_plain_http_is_refused(simulator):
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        httpx.get(simulator.base_url.replace("https://", "http://") + "/admin/health", timeout=5)


def test_tls_below_1_2_is_refused(simulator):
    context = client_context(simulator.pki.ca, simulator.cert(SENDER_A))
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    host, port = simulator.base_url.removeprefix("https://").rsplit(":", 1)
    with pytest.raises(ssl.SSLError):
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=host):
                pass


def test_a_certificate_whose_oin_no_sender_allows_gets_403(simulator):
    context = client_context(simulator.pki.ca, simulator.cert(STRANGER))
    with httpx.Client(verify=context, timeout=10) as client:
        response = client.post(
            simulator.ebms_url, content=b"<x/>", headers={"Content-Type": "text/xml"}
        )
    assert response.status_code == 403
    assert STRANGER in response.text


def test_the_oin_comes_from_the_certificate_not_the_message(simulator):
    """SENDER_B's certificate cannot use SENDER_A's CPA, whatever the message says."""
    from sim_helpers import send
    from zeep.exceptions import Fault

    client = simulator.ebms_client("00000001002345678000")
    with pytest.raises(Fault, match="not authorised for CPA"):
        send(client, b"<x/>", oin=SENDER_A)
