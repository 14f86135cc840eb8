"""``ValidateAbonnementen``: the synchronous "is this BSN subscribed?" check (interface.md §5).

Speaks the official WSDL (SOAP 1.1, WCF ``BasicHttpBinding``). The request is validated
against the official schemas (xsd0..3, imports resolved locally). At most 250 BSNs per
call; more, an unknown sender or an unknown message type give an ``ApplicationFault``.
The official WSDL and schemas are served at ``?wsdl`` / ``?xsd=xsdN`` with every
internal host name replaced by this simulator's address, so a zeep client can load it.
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

from simulator import logius
from simulator.app import Simulator
from simulator.config import VALIDATIE_PATH
from simulator.schemas import VALIDATIE_DIR
from simulator.soap import SoapFault, body_element, envelope

NS_SERVICE = "http://schemas.rdw.nl/GEB/BerichtenboxValidatieService/2009/01"
NS_TYPES = "http://schemas.rdw.nl/GEB/BerichtenboxValidatieService/Types/2009/01"
NS_SHARED = "http://schemas.rdw.nl/GEB/Shared/Types/2009/01"
SOAP_ACTION = f"{NS_SERVICE}/IBerichtenboxValidatieService/ValidateAbonnementen"

_T = f"{{{NS_TYPES}}}"
_S = f"{{{NS_SHARED}}}"
_INTERNAL = re.compile(rb"https?://[A-Za-z0-9.\-]+(?::\d+)?/BerichtenboxValidatieService")
_LOCAL_IMPORT = re.compile(rb'schemaLocation="(xsd\d)\.xsd"')
_ADDRESS = re.compile(rb'(<soap:address\s+location=")[^"]*(")')


def application_fault(message: str) -> SoapFault:
    detail = f'<ApplicationFault xmlns="{NS_SHARED}"><Message>{escape(message)}</Message></ApplicationFault>'
    return SoapFault(message, code="soap:Client", detail=detail)


class ValidatieService:
    def __init__(self, simulator: Simulator) -> None:
        self.sim = simulator

    def _official(self, name: str) -> Path:
        return Path(self.sim.config.logius_dir) / VALIDATIE_DIR / name

    def document(self, query: str, base_url: str) -> bytes | None:
        """The WSDL (``wsdl``) or one of its schemas (``xsd=xsd0``…), pointing here."""
        here = (base_url + VALIDATIE_PATH).encode()
        if query.lower() == "wsdl":
            data = self._official("BerichtenboxValidatieService.wsdl").read_bytes()
            data = _ADDRESS.sub(lambda m: m.group(1) + here + m.group(2), data)
        else:
            match = re.fullmatch(r"xsd=(xsd[0-3])", query)
            if not match:
                return None
            data = self._official(f"{match.group(1)}.xsd").read_bytes()
        data = _INTERNAL.sub(here, data)
        return _LOCAL_IMPORT.sub(
            lambda m: b'schemaLocation="' + here + b"?xsd=" + m.group(1) + b'"', data
        )

    def handle(self, data: bytes, caller_oin: str | None, soap_action: str | None) -> bytes:
        if soap_action is not None and soap_action.strip('"') not in (SOAP_ACTION, ""):
            raise SoapFault(f"unknown SOAPAction {soap_action}", code="soap:Client")
        request = body_element(data)
        if request.tag != f"{{{NS_SERVICE}}}ValidateAbonnementen":
            raise SoapFault(f"unknown operation {request.tag}", code="soap:Client")
        errors = self.sim.validatie_schema.errors(request)
        if errors:
            raise SoapFault(
                "request does not match the schema: " + "; ".join(errors), code="soap:Client"
            )
        aanvraag = request.find(f"{{{NS_SERVICE}}}validateAbonnementenAanvraag")
        if (
            aanvraag is None
            or aanvraag.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
        ):
            raise application_fault("validateAbonnementenAanvraag ontbreekt")
        code = aanvraag.findtext(_T + "berichtleverancierCode") or ""
        type_code = aanvraag.findtext(_T + "berichtTypeCode") or ""
        klanten = aanvraag.find(_T + "klanten")
        klant_list = list(klanten.iterchildren(_S + "Klant")) if klanten is not None else []
        if len(klant_list) > logius.MAX_BSNS_PER_VALIDATE_CALL:
            raise application_fault(
                f"te veel klanten: {len(klant_list)}, maximaal {logius.MAX_BSNS_PER_VALIDATE_CALL} per aanroep"
            )
        sender = self.sim.sender_by_code(code)
        if sender is None:
            raise application_fault(f"onbekende berichtleverancier {code!r}")
        if not sender.allows_certificate(caller_oin):
            raise application_fault(
                f"het certificaat (OIN {caller_oin}) mag niet namens berichtleverancier {code} vragen"
            )
        if type_code not in sender.message_types:
            raise application_fault(
                f"berichttype {type_code!r} is niet bekend bij berichtleverancier {code}"
            )
        population = self.sim.population(sender.oin)
        today = self.sim.clock.today().toordinal()
        parts = [
            f'<ValidateAbonnementenResponse xmlns="{NS_SERVICE}">'
            f'<ValidateAbonnementenResult xmlns:a="{NS_TYPES}" xmlns:b="{NS_SHARED}">'
        ]
        for klant in klant_list:
            key = klant.findtext(_S + "Key") or ""
            rol = klant.findtext(_S + "Rol")
            active = rol in (None, "Burger") and population.is_active(key, today)
            rol_xml = f"<b:Rol>{escape(rol)}</b:Rol>" if rol is not None else ""
            parts.append(
                f"<a:Abonnement><a:klant><b:Key>{escape(key)}</b:Key>{rol_xml}</a:klant>"
                f"<a:isBerichtSturen>{'true' if active else 'false'}</a:isBerichtSturen></a:Abonnement>"
            )
        parts.append("</ValidateAbonnementenResult></ValidateAbonnementenResponse>")
        return envelope("".join(parts))


def parse_response(data: bytes) -> list[tuple[str, bool]]:
    """(BSN, isBerichtSturen) pairs of a ValidateAbonnementen answer (used by tests)."""
    root = etree.fromstring(data)
    out = []
    for abonnement in root.iter(_T + "Abonnement"):
        out.append(
            (
                abonnement.findtext(f"{_T}klant/{_S}Key"),
                abonnement.findtext(_T + "isBerichtSturen") == "true",
            )
        )
    return out
