"""SOAP 1.1 envelopes: read the body's first element, write answers and faults.

Server-side SOAP is done with lxml and string templates, not zeep: it is the hot path
of the capacity target (thousands of messages per second).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from lxml import etree

from simulator.schemas import secure_parser

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
CONTENT_TYPE = "text/xml; charset=utf-8"

_ENVELOPE = f"{{{SOAP_ENV}}}Envelope"
_BODY = f"{{{SOAP_ENV}}}Body"
_PARSER = secure_parser(huge=True)


class SoapFault(Exception):
    """An error to answer with a SOAP fault (HTTP 500).

    ``detail`` is the serialized detail element (already XML), or None.
    """

    def __init__(self, message: str, *, code: str = "soap:Server", detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.detail = detail


def body_element(data: bytes) -> etree._Element:
    """The first element inside ``soap:Body`` (raises SoapFault when there is none)."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault(f"request is not well-formed XML: {exc}", code="soap:Client") from None
    if root.tag != _ENVELOPE:
        raise SoapFault(f"expected a SOAP 1.1 Envelope, got {root.tag}", code="soap:Client")
    body = root.find(_BODY)
    if body is None or len(body) == 0:
        raise SoapFault("the SOAP Body is empty", code="soap:Client")
    return body[0]


def envelope(body_xml: str | bytes) -> bytes:
    """Wrap serialized body content in a SOAP 1.1 envelope."""
    if isinstance(body_xml, str):
        body_xml = body_xml.encode("utf-8")
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        + body_xml
        + b"</soap:Body></soap:Envelope>"
    )


def fault(error: SoapFault) -> bytes:
    detail = f"<detail>{error.detail}</detail>" if error.detail else ""
    return envelope(
        f"<soap:Fault><faultcode>{error.code}</faultcode>"
        f"<faultstring>{escape(error.message)}</faultstring>{detail}</soap:Fault>"
    )


def text(parent: etree._Element, name: str) -> str | None:
    """Text of the unqualified child ``name`` (None when absent; '' when empty)."""
    child = parent.find(name)
    if child is None:
        return None
    return child.text or ""
