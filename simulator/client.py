"""Clients of a running simulator, over mTLS: the admin API and zeep SOAP clients.

Used by the simulator's own tests, by other teams' delivery/register tests and by the
demo. The zeep client here is a *test* client; BBX's real client is its hook.
"""

from __future__ import annotations

import ssl
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from simulator.config import DEFAULT_SCHEMAS_DIR, EBMS_NAMESPACE, EBMS_PATH, VALIDATIE_PATH
from simulator.pki import CertPair

EBMS_BINDING = f"{{{EBMS_NAMESPACE}}}EbMSMessageServiceImplServiceSoapBinding"


def client_context(ca: Path | str, cert: CertPair | None) -> ssl.SSLContext:
    """A TLS client context that trusts ``ca`` and presents ``cert`` (if given)."""
    context = ssl.create_default_context(cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        context.load_cert_chain(str(cert.cert), str(cert.key))
    return context


class AdminClient:
    """Small typed wrapper of the admin API (see :mod:`simulator.admin` for routes)."""

    def __init__(
        self, base_url: str, ca: Path | str, cert: CertPair, timeout: float = 30.0
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url + "/admin", verify=client_context(ca, cert), timeout=timeout
        )

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, json: Any = None, **params: Any) -> Any:
        params = {
            k: (v.isoformat() if isinstance(v, date) else v)
            for k, v in params.items()
            if v is not None
        }
        response = self.http.request(method, path, json=json, params=params)
        if response.status_code >= 400:
            raise RuntimeError(f"admin {method} {path}: {response.status_code} {response.text}")
        return response.json()

    # configuration
    def health(self) -> dict:
        return self._call("GET", "/health")

    def config(self) -> dict:
        return self._call("GET", "/config")

    def settings(
        self,
        *,
        result_delay: float | None = None,
        register_delay: float | None = None,
        result_dialect: str | None = None,
    ) -> dict:
        """Change delays and the default result dialect ("documented" or "live")."""
        body = {
            k: v
            for k, v in {
                "result_delay": result_delay,
                "register_delay": register_delay,
                "result_dialect": result_dialect,
            }.items()
            if v is not None
        }
        return self._call("POST", "/settings", json=body)

    def set_result_dialect(self, oin: str, dialect: str | None) -> dict:
        """One sender's result dialect at run time (``None``: the simulator's default)."""
        return self._call("PUT", f"/senders/{oin}/result-dialect", json={"dialect": dialect})

    def add_sender(self, oin: str, message_types: list[str], **settings: Any) -> dict:
        """Register (or replace) a sender; ``settings`` are the config keys: ``cpa_id``,
        ``certificate_oins``, ``sender_code``, ``population`` (dict), ``subscriptions``."""
        return self._call(
            "POST", "/senders", json={"oin": oin, "message_types": message_types, **settings}
        )

    def remove_sender(self, oin: str) -> dict:
        return self._call("DELETE", f"/senders/{oin}")

    def senders(self) -> list[dict]:
        return self._call("GET", "/senders")

    def subscribe(
        self, oin: str, bsns: list[str], start: date | str, until: date | str | None = None
    ) -> dict:
        body = {"bsns": list(bsns), "from": str(start), "until": str(until) if until else None}
        return self._call("POST", f"/senders/{oin}/subscriptions", json=body)

    def subscription(self, oin: str, bsn: str, day: date | None = None) -> dict:
        return self._call("GET", f"/senders/{oin}/subscriptions/{bsn}", day=day)

    def sample(
        self, oin: str, status: str = "active", limit: int = 10, day: date | None = None
    ) -> list[str]:
        """Example BSNs: ``active``, ``inactive`` (a member, not subscribed on ``day``) or
        ``never`` (never subscribed)."""
        return self._call("GET", f"/senders/{oin}/sample", status=status, limit=limit, day=day)[
            "bsns"
        ]

    def changes(self, oin: str, until: date, after: date | None = None) -> dict:
        return self._call("GET", f"/senders/{oin}/changes", until=until, after=after)

    # clock and faults
    def set_today(self, today: date | str | None) -> dict:
        return self._call("PUT", "/clock", json={"today": str(today) if today else None})

    def clock(self) -> dict:
        return self._call("GET", "/clock")

    def faults(self) -> dict:
        return self._call("GET", "/faults")

    def set_faults(self, **changes: Any) -> dict:
        """E.g. ``set_faults(next_http_503=1)`` or ``set_faults(technisch_probleem_rate=0.1)``."""
        return self._call("PUT", "/faults", json=changes)

    def reset_faults(self) -> dict:
        return self._call("POST", "/faults/reset")

    # inspection
    def stats(self) -> dict:
        return self._call("GET", "/stats")

    def bericht(self, bericht_id: str) -> dict | None:
        response = self.http.get(f"/berichten/{bericht_id}")
        return None if response.status_code == 404 else response.raise_for_status().json()

    def berichten(self, limit: int = 100_000, offset: int = 0) -> dict:
        return self._call("GET", "/berichten", limit=limit, offset=offset)

    def duplicates(self) -> dict:
        return self._call("GET", "/duplicates")

    def box(self, bsn: str) -> list[dict]:
        return self._call("GET", f"/box/{bsn}")["messages"]

    def batches(self, limit: int = 1000) -> list[dict]:
        return self._call("GET", "/batches", limit=limit)

    def inbound(self) -> list[dict]:
        return self._call("GET", "/inbound")

    def register_requests(self) -> list[dict]:
        return self._call("GET", "/register-requests")

    def reset(self, *, faults: bool = True, clock: bool = True, senders: bool = False) -> dict:
        return self._call(
            "POST", "/reset", json={"faults": faults, "clock": clock, "senders": senders}
        )


def _zeep_transport(ca: Path | str, cert: CertPair, timeout: float):
    import requests
    from zeep.transports import Transport

    session = requests.Session()
    # Without this, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment silently
    # replace ``session.verify`` and the test root is not trusted.
    session.trust_env = False
    session.verify = str(ca)
    session.cert = cert.as_tuple()
    return Transport(session=session, timeout=timeout, operation_timeout=timeout)


def ebms_client(
    base_url: str,
    ca: Path | str,
    cert: CertPair,
    wsdl: Path | str | None = None,
    timeout: float = 60.0,
):
    """A zeep service proxy for the ebMS API, built from BBX's own WSDL file (as the hook
    does) with the address pointed at ``base_url``."""
    import zeep

    wsdl = wsdl or DEFAULT_SCHEMAS_DIR / "ebms" / "EbMSMessageService.wsdl"
    client = zeep.Client(
        str(wsdl),
        transport=_zeep_transport(ca, cert, timeout),
        settings=zeep.Settings(strict=True, xml_huge_tree=True),
    )
    return client.create_service(EBMS_BINDING, base_url + EBMS_PATH)


def validatie_client(base_url: str, ca: Path | str, cert: CertPair, timeout: float = 60.0):
    """A zeep client of ValidateAbonnementen, from the WSDL the simulator serves."""
    import zeep

    return zeep.Client(
        f"{base_url}{VALIDATIE_PATH}?wsdl", transport=_zeep_transport(ca, cert, timeout)
    )
