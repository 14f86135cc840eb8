"""``BerichtenboxHook`` — BBX's client of the ebMS adapter in front of MijnOverheid.

It owns the protocol: SOAP over HTTPS with a client certificate (two-way TLS, TLS 1.2+),
timeouts, and retries with backoff on transport errors and HTTP 5xx. It never retries
a SOAP fault: a fault means "your request is wrong" and sending it again cannot help.

``sendMessage`` (megabytes of GLOBE per batch) is written directly: a fixed envelope
around the base64 of the already built and validated payload, posted on the same TLS
session; zeep would build an element tree of the whole body and serialise it again
(most of a send's CPU, issue 17). Every other operation goes through zeep and the WSDL.

Configuration is an Airflow Connection per BBX connection, ``berichtenbox_<code>``:
``host`` is the adapter's base URL (``https://adapter.example:8443``) and ``extra`` holds::

    cpa_id, from_party_id ("urn:osb:oin:<OIN>"), to_party_id (default MIJNOVERHEID_PARTY_ID),
    from_role ("SR"), to_role ("SP"),
    client_cert, client_key, ca_cert   (file paths, PEM)
    timeout (seconds, default 60), retries (default 4), validatie_url (ValidateAbonnementen endpoint)
    timeout_per_mb (seconds, default 2): added to sendMessage's read timeout per MB of the
        request body (a 48 MB batch with PDFs: 60 + 96 s), so a big batch is not given up
        (and resent whole) while the adapter is still taking it in

The sandbox (issue 14: sends of *test* API keys) is one Airflow Connection per deployment,
``bbx_berichtenbox_sandbox`` (the simulator or a sink): the same fields, but ``cpa_id`` and
``from_party_id`` may be left out — then each BBX connection's own (its configured CPA id and
OIN) are used, so the sandbox sees the batches as MijnOverheid would. A hook knows which
transport it is (``transport``: live or sandbox) from the Connection it uses.

Both WSDLs are BBX's own copies in ``include/schemas`` (the real adapter generates
its WSDL at run time; Logius's validation WSDL imports from an internal host).

Over ~400 lines on purpose: the hook owns the whole adapter protocol (settings, TLS
session, retries and their classification, the prebuilt ``sendMessage``, the zeep
operations); one protocol is read in one place.
"""

from __future__ import annotations

import base64
import logging
import ssl
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any
from xml.sax.saxutils import escape

import requests
from airflow.sdk import BaseHook
from requests.adapters import HTTPAdapter

from bbx import settings
from bbx.domain.delivery import LIVE, SANDBOX
from bbx.domain.limits import MAX_BSNS_PER_VALIDATE_CALL

log = logging.getLogger(__name__)

EBMS_WSDL = settings.SCHEMAS_DIR / "ebms" / "EbMSMessageService.wsdl"
VALIDATIE_WSDL = settings.SCHEMAS_DIR / "validatie" / "BerichtenboxValidatieService.wsdl"
EBMS_PATH = "/service/ebms"

# Values towards MijnOverheid (interface.md §1). Roles and the inbound action of the
# subscription answer are assumptions: change them here only.
SERVICE = "urn:osb:services:MIJNOVERHEID.ebMS.BB.2.0"
FROM_ROLE = "SR"
TO_ROLE = "SP"
ACTION_DELIVER = "GLOBE-R-BV-Request"
ACTION_DELIVERY_RESULT = "GLOBE-R-BV-Result"
ACTION_SUBSCRIPTIONS = "GLOBE-R-A-Request"
ACTION_SUBSCRIPTIONS_RESULT = "GLOBE-R-A-Result"  # assumption: not published by Logius
# MijnOverheid's party id in the CPA; Logius states it per CPA, so the Connection's
# extra ``to_party_id`` overrides this default (assumption: the simulator uses it too).
MIJNOVERHEID_PARTY_ID = "urn:osb:oin:00000001800866472000"
SANDBOX_CONN_ID = "bbx_berichtenbox_sandbox"  # one per deployment: where test keys' batches go

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
EBMS_NS = "http://www.ordina.nl/ebms/2.18"  # the WSDL's targetNamespace; children unqualified
# messageRequestProperties, in the WSDL's sequence order
_SEND_PROPERTIES = ("cpaId", "fromPartyId", "fromRole", "toPartyId", "toRole", "service", "action",
                    "conversationId", "messageId")


class BerichtenboxError(RuntimeError):
    """Base of the hook's errors. ``transient`` says whether the same call can succeed
    later unchanged (retry it) or needs a person to fix something first (fail at once)."""

    transient = False


class BerichtenboxRequestError(BerichtenboxError):
    """The adapter refused the request (SOAP fault, HTTP 4xx): fix the request, don't retry."""


class BerichtenboxUnavailable(BerichtenboxError):
    """The adapter could not be reached or failed (transport error, HTTP 5xx) after retries."""

    transient = True


class BerichtenboxConfigError(BerichtenboxError):
    """The Airflow Connection lacks something the hook needs."""


class _Retry(Exception):
    """One attempt failed in a way the same call may survive (inside the hook only)."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


def send_message_envelope(properties: dict[str, str], *, name: str, content_type: str, payload: bytes) -> bytes:
    """The SOAP request of ``sendMessage``: ``properties`` (keys of ``_SEND_PROPERTIES``,
    None left out) and one dataSource holding ``payload`` as base64."""
    props = "".join(f"<{k}>{escape(properties[k])}</{k}>" for k in _SEND_PROPERTIES if properties.get(k) is not None)
    head = (f'<?xml version="1.0" encoding="UTF-8"?><soap-env:Envelope xmlns:soap-env="{SOAP_ENV_NS}">'
            f'<soap-env:Body><ebms:sendMessage xmlns:ebms="{EBMS_NS}"><message><properties>{props}</properties>'
            f"<dataSource><name>{escape(name)}</name><contentType>{escape(content_type)}</contentType><content>")
    tail = "</content></dataSource></message></ebms:sendMessage></soap-env:Body></soap-env:Envelope>"
    return b"".join((head.encode(), base64.b64encode(payload), tail.encode()))


def _soap_answer(content: bytes):
    """The first element of the answer's SOAP Body; a SOAP Fault raises
    :class:`BerichtenboxRequestError` with its faultstring."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    root = etree.fromstring(content, parser)
    body = root.find(f"{{{SOAP_ENV_NS}}}Body")
    first = next(iter(body), None) if body is not None else None
    if first is None:
        raise etree.XMLSyntaxError("the answer has no SOAP Body content", None, 0, 0)
    if first.tag == f"{{{SOAP_ENV_NS}}}Fault":
        raise BerichtenboxRequestError(first.findtext("faultstring") or "SOAP Fault without a faultstring")
    return first


# The classification callers (retry policies, operators) use; the hook owns it.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (BerichtenboxUnavailable,)
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (BerichtenboxRequestError, BerichtenboxConfigError)


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same call later may succeed."""
    return isinstance(exc, TRANSIENT_ERRORS)


@dataclass(frozen=True)
class DataSource:
    name: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class InboundMessage:
    message_id: str
    action: str
    conversation_id: str | None
    ref_to_message_id: str | None
    timestamp: datetime | None
    from_party_id: str | None
    data_sources: tuple[DataSource, ...]


@dataclass(frozen=True)
class AdapterSettings:
    base_url: str
    cpa_id: str
    from_party_id: str
    to_party_id: str
    from_role: str
    to_role: str
    client_cert: str
    client_key: str
    ca_cert: str
    timeout: float
    retries: int
    validatie_url: str | None
    timeout_per_mb: float = 2.0

    def read_timeout(self, body_bytes: int) -> float:
        """The read timeout for a request of ``body_bytes``: ``timeout`` plus ``timeout_per_mb``
        per MB (10^6 bytes); the adapter reads and stores the whole body before it answers."""
        return self.timeout + self.timeout_per_mb * body_bytes / 1_000_000

    @classmethod
    def from_connection(cls, conn_id: str, conn, defaults: dict | None = None) -> AdapterSettings:
        """``defaults``: extra values the Connection may leave out (the sandbox's identity)."""
        extra = {**(defaults or {}), **{k: v for k, v in (conn.extra_dejson or {}).items() if v not in (None, "")}}
        missing = [k for k in ("cpa_id", "from_party_id", "client_cert", "client_key", "ca_cert") if not extra.get(k)]
        host = conn.host or ""
        if not host:
            missing.insert(0, "host")
        if missing:
            raise BerichtenboxConfigError(
                f"Airflow Connection {conn_id!r} lacks {', '.join(missing)}: set them in the "
                "connection (host = adapter base URL; the rest in extra)"
            )
        if "://" not in host:
            scheme = conn.schema or "https"
            host = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
        elif conn.port and host.count(":") < 2:
            host = f"{host}:{conn.port}"
        return cls(
            base_url=host.rstrip("/"), cpa_id=extra["cpa_id"], from_party_id=extra["from_party_id"],
            to_party_id=extra.get("to_party_id", MIJNOVERHEID_PARTY_ID), from_role=extra.get("from_role", FROM_ROLE),
            to_role=extra.get("to_role", TO_ROLE), client_cert=extra["client_cert"],
            client_key=extra["client_key"], ca_cert=extra["ca_cert"],
            timeout=float(extra.get("timeout", 60)), retries=int(extra.get("retries", 4)),
            validatie_url=extra.get("validatie_url"), timeout_per_mb=float(extra.get("timeout_per_mb", 2.0)),
        )


class _MutualTlsAdapter(HTTPAdapter):
    """Two-way TLS, 1.2 at least (Digikoppeling): our client certificate, and trust
    in the configured chain only (test and production use different roots)."""

    def __init__(self, ca_cert: str, client_cert: str, client_key: str):
        self._context = ssl.create_default_context(cafile=ca_cert)
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context.load_cert_chain(client_cert, client_key)
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = self._context
        return super().init_poolmanager(*args, **kwargs)


class BerichtenboxHook(BaseHook):
    conn_name_attr = "berichtenbox_conn_id"
    default_conn_name = "berichtenbox_default"
    conn_type = "berichtenbox"
    hook_name = "Berichtenbox (ebMS adapter)"

    def __init__(self, berichtenbox_conn_id: str = default_conn_name, *, backoff: float = 1.0,
                 identity: dict[str, str] | None = None):
        super().__init__()
        self.berichtenbox_conn_id = berichtenbox_conn_id
        self.backoff = backoff
        self.identity = identity or {}  # cpa_id / from_party_id when the Connection leaves them out

    @classmethod
    def for_connection(cls, connection_code: str, **kwargs) -> BerichtenboxHook:
        return cls(f"berichtenbox_{connection_code}", **kwargs)

    @classmethod
    def for_sandbox(cls, *, cpa_id: str, oin: str, **kwargs) -> BerichtenboxHook:
        """The sandbox endpoint, speaking for one BBX connection (its CPA id and OIN)."""
        return cls(SANDBOX_CONN_ID, identity={"cpa_id": cpa_id, "from_party_id": f"urn:osb:oin:{oin.strip()}"},
                   **kwargs)

    @property
    def transport(self) -> str:
        """Which transport this hook is (``bbx.domain.delivery``): decided by the Connection it
        uses, so a sender can check it against the batch before anything goes out."""
        return SANDBOX if self.berichtenbox_conn_id == SANDBOX_CONN_ID else LIVE

    @classmethod
    def sandbox_problem(cls) -> str | None:
        """None when the deployment has a usable sandbox Connection, else what is missing
        (asked at hand-in time: a test key's hand-in is refused rather than held forever)."""
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = cls.get_connection(SANDBOX_CONN_ID)
        except AirflowNotFoundException:
            return f"there is no Airflow Connection {SANDBOX_CONN_ID!r}"
        try:
            AdapterSettings.from_connection(SANDBOX_CONN_ID, conn, {"cpa_id": "-", "from_party_id": "-"})
        except BerichtenboxConfigError as exc:
            return str(exc)
        return None

    # ------------------------------------------------------------------ plumbing
    @classmethod
    def get_ui_field_behaviour(cls) -> dict:
        """The connection form (Airflow 3.3 reads it from bbx.provider, declaratively)."""
        from bbx.provider import UI_FIELD_BEHAVIOUR

        return {k.replace("-", "_"): v for k, v in UI_FIELD_BEHAVIOUR.items()}

    @cached_property
    def settings(self) -> AdapterSettings:
        return AdapterSettings.from_connection(self.berichtenbox_conn_id, self.get_connection(self.berichtenbox_conn_id),
                                               self.identity)

    def certificate_problems(self, warnings: list[str] | None = None) -> list[str]:
        """Expiry, OIN in the subject, chain and key of the configured client certificate."""
        from bbx.hooks import certificates

        s = self.settings
        oin = (self.get_connection(self.berichtenbox_conn_id).extra_dejson or {}).get("oin")
        if not oin and s.from_party_id.startswith("urn:osb:oin:"):
            oin = s.from_party_id.removeprefix("urn:osb:oin:")
        return certificates.check(s.client_cert, s.ca_cert, oin=oin, key=s.client_key, warnings=warnings)

    def check_certificates(self) -> None:
        """At start-up of the hook's first call: refuse unusable certificates with the reason."""
        warnings: list[str] = []
        problems = self.certificate_problems(warnings)
        for warning in warnings:
            log.warning("%s: %s", self.berichtenbox_conn_id, warning)
        if problems:
            raise BerichtenboxConfigError(
                f"Airflow Connection {self.berichtenbox_conn_id!r}: " + "; ".join(problems))

    @cached_property
    def _session(self) -> requests.Session:
        s = self.settings
        self.check_certificates()
        session = requests.Session()
        # REQUESTS_CA_BUNDLE & co. would silently widen trust beyond the configured chain
        session.trust_env = False
        session.mount("https://", _MutualTlsAdapter(s.ca_cert, s.client_cert, s.client_key))
        session.verify = s.ca_cert
        return session

    def _client(self, wsdl, address: str):
        import zeep
        from zeep.transports import Transport

        transport = Transport(session=self._session, timeout=self.settings.timeout,
                              operation_timeout=self.settings.timeout)
        client = zeep.Client(str(wsdl), transport=transport,
                             settings=zeep.Settings(strict=True, xml_huge_tree=True, forbid_entities=True))
        binding = next(iter(client.wsdl.bindings))
        return client.create_service(binding, address)

    @cached_property
    def _ebms(self):
        return self._client(EBMS_WSDL, self.settings.base_url + EBMS_PATH)

    @cached_property
    def _validatie(self):
        if not self.settings.validatie_url:
            raise BerichtenboxConfigError(
                f"Airflow Connection {self.berichtenbox_conn_id!r} has no extra 'validatie_url' "
                "(the ValidateAbonnementen endpoint)"
            )
        return self._client(VALIDATIE_WSDL, self.settings.validatie_url)

    def _retrying(self, operation: str, attempt_once) -> Any:
        """Run ``attempt_once()``; retry what it raises as :class:`_Retry` with exponential
        backoff; a :class:`BerichtenboxRequestError` goes out at once (never retried)."""
        attempts = self.settings.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return attempt_once()
            except BerichtenboxRequestError as exc:
                raise BerichtenboxRequestError(f"{operation} refused by the adapter: {exc}") from None
            except _Retry as exc:
                problem = exc.problem
            if attempt == attempts:
                raise BerichtenboxUnavailable(
                    f"{operation}: the ebMS adapter at {self.settings.base_url} failed {attempts} times "
                    f"(last: {problem}); the operation is safe to retry later"
                )
            delay = self.backoff * 2 ** (attempt - 1)
            log.warning("%s: %s, retry %d/%d in %.1fs", operation, problem, attempt, attempts - 1, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _call(self, service, operation: str, **kwargs) -> Any:
        """Call an operation through zeep; retry transport errors and HTTP 5xx."""
        from lxml.etree import XMLSyntaxError
        from zeep.exceptions import Fault, TransportError

        def once():
            try:
                return getattr(service, operation)(**kwargs)
            except Fault as fault:
                raise BerichtenboxRequestError(fault.message) from None
            except TransportError as exc:
                if exc.status_code and exc.status_code < 500:
                    raise BerichtenboxRequestError(f"HTTP {exc.status_code} from the adapter") from None
                raise _Retry(f"HTTP {exc.status_code}") from None
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    XMLSyntaxError) as exc:
                raise _Retry(type(exc).__name__) from None

        return self._retrying(operation, once)

    def _post_soap(self, operation: str, url: str, body: bytes):
        """POST a prebuilt SOAP request; the first element of the answer's Body. Same
        classification as :meth:`_call`: a SOAP Fault or HTTP 4xx is final, transport
        errors, HTTP 5xx without a Fault and unreadable answers are retried."""
        from lxml.etree import XMLSyntaxError

        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
        timeout = (self.settings.timeout, self.settings.read_timeout(len(body)))  # (connect, read)

        def once():
            try:
                response = self._session.post(url, data=body, headers=headers, timeout=timeout)
                content = response.content
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                raise _Retry(type(exc).__name__) from None
            if 400 <= response.status_code < 500:
                raise BerichtenboxRequestError(f"HTTP {response.status_code} from the adapter")
            try:
                answer = _soap_answer(content)  # a Fault (HTTP 500 with it) raises RequestError
            except XMLSyntaxError:
                if response.status_code >= 500:
                    raise _Retry(f"HTTP {response.status_code}") from None
                raise _Retry("XMLSyntaxError") from None
            if response.status_code >= 500:
                raise _Retry(f"HTTP {response.status_code}")
            return answer

        return self._retrying(operation, once)

    # ------------------------------------------------------------------ operations
    def ping(self) -> None:
        s = self.settings
        self._call(self._ebms, "ping", cpaId=s.cpa_id, fromPartyId=s.from_party_id, toPartyId=s.to_party_id)

    def test_connection(self) -> tuple[bool, str]:
        """For Airflow's "Test connection" button: certificates first, then a ping."""
        warnings: list[str] = []
        try:
            problems = self.certificate_problems(warnings)
            if problems:
                return False, "; ".join(problems)
            self.ping()
        except BerichtenboxError as exc:
            return False, str(exc)
        return True, "; ".join(["certificates valid (expiry, OIN, chain, key); ping answered", *warnings])

    def send_message(self, *, action: str, payload: bytes, name: str, content_type: str = "application/xml",
                     conversation_id: str | None = None, message_id: str | None = None) -> str:
        """Hand one message to the adapter; returns its ebMS messageId. The adapter only
        acknowledges receipt: the business outcome arrives later as an inbound message."""
        s = self.settings
        properties = {
            "cpaId": s.cpa_id, "fromPartyId": s.from_party_id, "fromRole": s.from_role,
            "toPartyId": s.to_party_id, "toRole": s.to_role, "service": SERVICE, "action": action,
            "conversationId": conversation_id, "messageId": message_id,
        }
        body = send_message_envelope(properties, name=name, content_type=content_type, payload=payload)
        answer = self._post_soap("sendMessage", self.settings.base_url + EBMS_PATH, body)
        message_id = answer.findtext("messageId") if answer.tag == f"{{{EBMS_NS}}}sendMessageResponse" else None
        if not message_id:
            # the adapter took the request but answered something else: it may have the
            # message; sending again is safe (same BatchID and BerichtIDs)
            raise BerichtenboxUnavailable(
                f"sendMessage: the ebMS adapter at {self.settings.base_url} answered {answer.tag} without a "
                "messageId; the operation is safe to retry later")
        return message_id

    def unprocessed_message_ids(self, *, action: str | None = None, max_nr: int = 100) -> list[str]:
        """Inbound messages not yet processed, oldest first (optionally of one action)."""
        message_filter = {"cpaId": self.settings.cpa_id, "service": SERVICE}
        if action:
            message_filter["action"] = action
        result = self._call(self._ebms, "getUnprocessedMessageIds", messageFilter=message_filter, maxNr=max_nr)
        return list(result or [])

    def get_message(self, message_id: str) -> InboundMessage:
        message = self._call(self._ebms, "getMessage", messageId=message_id, process=False)
        props = message.properties
        return InboundMessage(
            message_id=props.messageId, action=props.action, conversation_id=props.conversationId,
            ref_to_message_id=props.refToMessageId, timestamp=props.timestamp,
            from_party_id=props.fromParty.partyId if props.fromParty is not None else None,
            data_sources=tuple(
                DataSource(d.name, d.contentType, bytes(d.content)) for d in (message.dataSource or [])
            ),
        )

    def mark_processed(self, message_id: str) -> None:
        """processMessage: call only after what the message says is safely recorded."""
        self._call(self._ebms, "processMessage", messageId=message_id)

    def validate_abonnementen(self, *, sender_code: str, message_type_code: str, bsns: list[str]) -> dict[str, bool]:
        """The synchronous quick check: is each BSN subscribed for this sender and type?
        For manual sends and lookups only (Logius limits its use), at most 250 BSNs."""
        if len(bsns) > MAX_BSNS_PER_VALIDATE_CALL:
            raise ValueError(f"ValidateAbonnementen takes at most {MAX_BSNS_PER_VALIDATE_CALL} BSNs per call, got {len(bsns)}")
        request = {
            "berichtleverancierCode": sender_code, "berichtTypeCode": message_type_code,
            "klanten": {"Klant": [{"Key": b, "Rol": "Burger"} for b in bsns]},
        }
        result = self._call(self._validatie, "ValidateAbonnementen", validateAbonnementenAanvraag=request)
        # zeep unwraps ArrayOfAbonnement into a plain list (None when empty)
        answers = {a.klant.Key: bool(a.isBerichtSturen) for a in (result or [])}
        return {b: answers.get(b, False) for b in bsns}
