"""The ebMS adapter's SOAP API ``EbMSMessageService`` (interface.md §1), simulated.

Strict like the real chain: the request must validate against the schema in BBX's own
WSDL (``include/schemas/ebms/EbMSMessageService.wsdl``: unqualified children, base64
content), the cpaId must exist, the certificate must be allowed on that CPA, and party,
role, service and action must be what the CPA says. Anything else is a SOAP fault with
an ``EbMSMessageServiceException`` detail, as the adapter answers.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
import uuid
from xml.sax.saxutils import escape

from lxml import etree

from simulator.app import Simulator
from simulator.clock import xml_datetime
from simulator.config import (
    ACTION_BATCH_REQUEST,
    ACTION_REGISTER_REQUEST,
    EBMS_NAMESPACE,
    EBMS_PATH,
    RECEIVER_ROLE,
    SENDER_ROLE,
    SERVICE,
    SenderConfig,
)
from simulator.soap import SoapFault, body_element, envelope, text
from simulator.store import InboundMessage, SentMessage

log = logging.getLogger("simulator.ebms")

_NS = EBMS_NAMESPACE
_ADDRESS = re.compile(rb'(<soap:address\s+location=")[^"]*(")')
_FILTER_FIELDS = ("cpaId", "service", "action", "conversationId", "messageId", "refToMessageId")
_INBOUND_ATTR = {
    "cpaId": "cpa_id",
    "service": "service",
    "action": "action",
    "conversationId": "conversation_id",
    "messageId": "message_id",
    "refToMessageId": "ref_to_message_id",
}


def ebms_fault(message: str, code: str = "soap:Server") -> SoapFault:
    detail = (
        f'<ns2:EbMSMessageServiceException xmlns:ns2="{_NS}">'
        f"<message>{escape(message)}</message></ns2:EbMSMessageServiceException>"
    )
    return SoapFault(message, code=code, detail=detail)


def _wrap(operation: str, inner: str = "") -> str:
    return f'<ns2:{operation}Response xmlns:ns2="{_NS}">{inner}</ns2:{operation}Response>'


class EbmsService:
    """Dispatches one SOAP request of ``/service/ebms`` for a caller certificate OIN."""

    def __init__(self, simulator: Simulator) -> None:
        self.sim = simulator
        self._operations = {
            f"{{{_NS}}}ping": self.ping,
            f"{{{_NS}}}sendMessage": self.send_message,
            f"{{{_NS}}}getUnprocessedMessageIds": self.get_unprocessed_message_ids,
            f"{{{_NS}}}getMessage": self.get_message,
            f"{{{_NS}}}processMessage": self.process_message,
            f"{{{_NS}}}getMessageStatus": self.get_message_status,
        }

    def wsdl(self, base_url: str) -> bytes:
        """BBX's WSDL with the service address pointing at this simulator."""
        data = self.sim.config.wsdl_path.read_bytes()
        address = (base_url + EBMS_PATH).encode()
        return _ADDRESS.sub(lambda m: m.group(1) + address + m.group(2), data)

    def handle(self, data: bytes, caller_oin: str | None) -> bytes:
        """Answer a SOAP request (raises SoapFault for faults)."""
        request = body_element(data)
        operation = self._operations.get(request.tag)
        if operation is None:
            raise ebms_fault(f"unknown operation {request.tag}", code="soap:Client")
        errors = self.sim.ebms_schema.errors(request)
        if errors:
            raise ebms_fault("Unmarshalling Error: " + "; ".join(errors), code="soap:Client")
        return envelope(operation(request, caller_oin))

    # -- helpers ---------------------------------------------------------------------
    def _cpa(self, cpa_id: str, caller_oin: str | None) -> SenderConfig:
        sender = self.sim.sender_by_cpa(cpa_id)
        if sender is None:
            raise ebms_fault(f"CPA {cpa_id} not found")
        if not sender.allows_certificate(caller_oin):
            raise ebms_fault(
                f"the client certificate (OIN {caller_oin}) is not authorised for CPA {cpa_id}"
            )
        return sender

    def _check_party(self, sender: SenderConfig, from_party: str, to_party: str | None) -> None:
        if from_party != sender.party_id:
            raise ebms_fault(
                f"fromPartyId {from_party} is not a party of CPA {sender.cpa_id} "
                f"(expected {sender.party_id})"
            )
        if to_party is not None and to_party != self.sim.config.mijnoverheid_party_id:
            raise ebms_fault(
                f"toPartyId {to_party} is not a party of CPA {sender.cpa_id} "
                f"(expected {self.sim.config.mijnoverheid_party_id})"
            )

    def _visible_inbound(self, message_id: str, caller_oin: str | None) -> InboundMessage | None:
        message = self.sim.store.inbound.get(message_id)
        if message is None or not message.visible(time.monotonic()):
            return None
        sender = self.sim.sender(message.sender_oin)
        if sender is None or not sender.allows_certificate(caller_oin):
            return None
        return message

    # -- operations -------------------------------------------------------------------
    def ping(self, request: etree._Element, caller_oin: str | None) -> str:
        sender = self._cpa(text(request, "cpaId"), caller_oin)
        self._check_party(sender, text(request, "fromPartyId"), text(request, "toPartyId"))
        return _wrap("ping")

    def send_message(self, request: etree._Element, caller_oin: str | None) -> str:
        message = request.find("message")
        props = message.find("properties")
        sender = self._cpa(text(props, "cpaId"), caller_oin)
        self._check_party(sender, text(props, "fromPartyId"), text(props, "toPartyId"))
        from_role, to_role = text(props, "fromRole"), text(props, "toRole")
        if from_role != SENDER_ROLE:
            raise ebms_fault(
                f"fromRole {from_role} is not allowed in CPA {sender.cpa_id} (expected {SENDER_ROLE})"
            )
        if to_role is not None and to_role != RECEIVER_ROLE:
            raise ebms_fault(
                f"toRole {to_role} is not allowed in CPA {sender.cpa_id} (expected {RECEIVER_ROLE})"
            )
        service, action = text(props, "service"), text(props, "action")
        if service != SERVICE:
            raise ebms_fault(f"service {service} not found in CPA {sender.cpa_id}")
        if action not in (ACTION_BATCH_REQUEST, ACTION_REGISTER_REQUEST):
            raise ebms_fault(
                f"action {action} not found for service {service} in CPA {sender.cpa_id}"
            )
        sources = message.findall("dataSource")
        if not sources:
            raise ebms_fault(f"a {action} message needs a dataSource with the payload")
        try:
            content = base64.b64decode(text(sources[0], "content") or "", validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ebms_fault(f"dataSource content is not valid base64: {exc}") from None
        message_id = text(props, "messageId") or self.sim.new_message_id()
        conversation_id = text(props, "conversationId") or str(uuid.uuid4())
        store = self.sim.store
        with store.lock:
            if message_id in store.sent:
                raise ebms_fault(f"a message with messageId {message_id} already exists")
            store.sent[message_id] = SentMessage(
                message_id, sender.cpa_id, sender.oin, action, xml_datetime(self.sim.clock.now())
            )
        if action == ACTION_BATCH_REQUEST:
            self.sim.accept_batch(sender, message_id, conversation_id, content)
        else:
            self.sim.accept_register_request(sender, message_id, conversation_id, content)
        return _wrap("sendMessage", f"<messageId>{escape(message_id)}</messageId>")

    def get_unprocessed_message_ids(self, request: etree._Element, caller_oin: str | None) -> str:
        allowed = self.sim.cpas_for_certificate(caller_oin)
        messages = self.sim.store.unprocessed(allowed)
        flt = request.find("messageFilter")
        if flt is not None:
            messages = [m for m in messages if _matches(m, flt)]
        max_nr = text(request, "maxNr")
        if max_nr:
            messages = messages[: max(int(max_nr), 0)]
        return _wrap(
            "getUnprocessedMessageIds",
            "".join(f"<messageId>{escape(m.message_id)}</messageId>" for m in messages),
        )

    def get_message(self, request: etree._Element, caller_oin: str | None) -> str:
        message_id = text(request, "messageId")
        message = self._visible_inbound(message_id, caller_oin)
        if message is None:
            raise ebms_fault(f"message {message_id} not found")
        if text(request, "process") in ("true", "1"):
            with self.sim.store.lock:
                message.processed = True
        status = "PROCESSED" if message.processed else "RECEIVED"
        ref = (
            f"<refToMessageId>{escape(message.ref_to_message_id)}</refToMessageId>"
            if message.ref_to_message_id
            else ""
        )
        parts = [
            "<message><properties>",
            f"<cpaId>{escape(message.cpa_id)}</cpaId>",
            f"<fromParty><partyId>{escape(message.from_party)}</partyId><role>{message.from_role}</role></fromParty>",
            f"<toParty><partyId>{escape(message.to_party)}</partyId><role>{message.to_role}</role></toParty>",
            f"<service>{escape(message.service)}</service><action>{escape(message.action)}</action>",
            f"<timestamp>{message.timestamp}</timestamp>",
            f"<conversationId>{escape(message.conversation_id)}</conversationId>",
            f"<messageId>{escape(message.message_id)}</messageId>{ref}",
            f"<messageStatus>{status}</messageStatus></properties>",
        ]
        for source in message.data_sources or []:
            parts.append(
                f"<dataSource><name>{escape(source.name)}</name>"
                f"<contentType>{escape(source.content_type)}</contentType><content>"
                + base64.b64encode(source.content).decode("ascii")
                + "</content></dataSource>"
            )
        parts.append("</message>")
        return _wrap("getMessage", "".join(parts))

    def process_message(self, request: etree._Element, caller_oin: str | None) -> str:
        message = self._visible_inbound(text(request, "messageId"), caller_oin)
        if message is not None:  # unknown ids are no error
            with self.sim.store.lock:
                message.processed = True
        return _wrap("processMessage")

    def get_message_status(self, request: etree._Element, caller_oin: str | None) -> str:
        message_id = text(request, "messageId")
        store = self.sim.store
        sent = store.sent.get(message_id)
        if sent is not None and self.sim.cpas_for_certificate(caller_oin) & {sent.cpa_id}:
            timestamp, status = sent.timestamp, sent.status
        else:
            inbound = self._visible_inbound(message_id, caller_oin)
            if inbound is None:
                raise ebms_fault(f"message {message_id} not found")
            timestamp = inbound.timestamp
            status = "PROCESSED" if inbound.processed else "RECEIVED"
        return _wrap(
            "getMessageStatus",
            f"<messageStatus><timestamp>{timestamp}</timestamp><status>{status}</status></messageStatus>",
        )


def _matches(message: InboundMessage, flt: etree._Element) -> bool:
    for name in _FILTER_FIELDS:
        wanted = text(flt, name)
        if wanted and getattr(message, _INBOUND_ATTR[name]) != wanted:
            return False
    for name, party, role in (
        ("fromParty", message.from_party, message.from_role),
        ("toParty", message.to_party, message.to_role),
    ):
        element = flt.find(name)
        if element is not None:
            if text(element, "partyId") and text(element, "partyId") != party:
                return False
            if text(element, "role") and text(element, "role") != role:
                return False
    return True
