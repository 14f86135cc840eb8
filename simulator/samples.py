"""Sample payloads for the simulator's tests and benchmark (not BBX's own builders).

BBX builds its batches with ``bbx.domain``; these builders exist so the simulator can
be tested and measured on its own, and so a test can deliberately build what BBX never
should (too-big attachments, stale dates, wrong OINs).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from xml.sax.saxutils import escape

from simulator.clock import TZ, xml_datetime
from simulator.globe import NS_BATCH, NS_BERICHT
from simulator.register import NS as NS_REGISTER

STANDARD_TEXT = (
    "Geachte heer/mevrouw,\r\n\r\nUw pensioenoverzicht over 2026 staat voor u klaar. "
    "U vindt daarin het pensioen dat u tot nu toe heeft opgebouwd en wat u kunt verwachten "
    "als u tot uw pensioendatum blijft werken. Controleer of de gegevens kloppen en neem "
    "contact met ons op als iets niet juist is.\r\n\r\nMet vriendelijke groet,\r\nHet fonds"
)


@dataclass
class SampleBericht:
    bsn: str
    bericht_type: str = "UPO2026"
    bericht_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    onderwerp: str = "Uw pensioenoverzicht 2026"
    tekst: str | None = STANDARD_TEXT
    publicatie: datetime | None = None
    attachments: list[bytes] = field(default_factory=list)
    referentie: str | None = None


def batch_xml(
    berichten: list[SampleBericht],
    leverancier: str,
    *,
    batch_id: str | None = None,
    aanmaak: datetime | None = None,
) -> bytes:
    """A ``GLOBE-R-BV-Request`` (root ``Berichten``) that validates against the official XSD."""
    batch_id = batch_id or str(uuid.uuid4())
    aanmaak = aanmaak or datetime.now(TZ)
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ns1:Berichten xmlns:ns1="{NS_BATCH}"'
        f' xmlns:ns2="{NS_BERICHT}"><ns1:BatchInformatie><ns1:BatchID>{batch_id}</ns1:BatchID>'
        f"<ns1:AanmaakDatum>{xml_datetime(aanmaak)}</ns1:AanmaakDatum>"
        f"<ns1:BerichtLeverancierID>{escape(leverancier)}</ns1:BerichtLeverancierID>"
        f"</ns1:BatchInformatie>"
    ]
    for b in berichten:
        parts.append(
            f"<ns2:Bericht><ns2:BerichtInformatie><ns2:BatchID>{batch_id}</ns2:BatchID>"
            f"<ns2:BerichtID>{b.bericht_id}</ns2:BerichtID>"
            f"<ns2:BerichtType>{escape(b.bericht_type)}</ns2:BerichtType>"
        )
        if b.publicatie is not None:
            parts.append(f"<ns2:PublicatieDatum>{xml_datetime(b.publicatie)}</ns2:PublicatieDatum>")
        parts.append(f"<ns2:Onderwerp>{escape(b.onderwerp)}</ns2:Onderwerp>")
        if b.tekst is not None:
            parts.append(f"<ns2:BerichtTekst>{escape(b.tekst)}</ns2:BerichtTekst>")
        if b.referentie is not None:
            parts.append(f"<ns2:Referentie>{escape(b.referentie)}</ns2:Referentie>")
        parts.append(
            f"<ns2:GebruikerID>{escape(b.bsn)}</ns2:GebruikerID>"
            "<ns2:SoortGebruiker>Burger</ns2:SoortGebruiker></ns2:BerichtInformatie>"
        )
        if b.attachments:
            parts.append("<ns2:Bijlagen>")
            for number, pdf in enumerate(b.attachments, start=1):
                parts.append(
                    f"<ns2:Bijlage><ns2:Inhoud>{base64.b64encode(pdf).decode()}</ns2:Inhoud>"
                    f"<ns2:BijlageType>Pdf</ns2:BijlageType>"
                    f"<ns2:Omschrijving>Bijlage {number}</ns2:Omschrijving>"
                    f"<ns2:Volgorde>{number}</ns2:Volgorde></ns2:Bijlage>"
                )
            parts.append("</ns2:Bijlagen>")
        parts.append("</ns2:Bericht>")
    parts.append("</ns1:Berichten>")
    return "".join(parts).encode("utf-8")


def register_request_xml(
    oin: str,
    verzoek_id: str | None = None,
    *,
    since: datetime | None = None,
    bsns: list[str] | None = None,
) -> bytes:
    """An ``AbonnementAanvraag``: full list, changes ``since``, or only ``bsns``."""
    verzoek_id = verzoek_id or str(uuid.uuid4())
    body = ""
    if since is not None:
        body = f"<MutatieDatum>{xml_datetime(since)}</MutatieDatum>"
    elif bsns is not None:
        body = "<BSNLijst>" + "".join(f"<BSN>{escape(b)}</BSN>" for b in bsns) + "</BSNLijst>"
    return (
        f'<ns0:AbonnementAanvraag xmlns:ns0="{NS_REGISTER}"><BerichtLeverancier><OIN>{escape(oin)}'
        f"</OIN></BerichtLeverancier><VerzoekId>{escape(verzoek_id)}</VerzoekId>{body}"
        "</ns0:AbonnementAanvraag>"
    ).encode()


def send_message_envelope(
    *,
    cpa_id: str,
    from_party: str,
    action: str,
    payload: bytes,
    service: str = "urn:osb:services:MIJNOVERHEID.ebMS.BB.2.0",
    to_party: str | None = None,
    from_role: str = "SR",
    to_role: str | None = "SP",
    name: str = "payload.xml",
    content_b64: str | None = None,
) -> bytes:
    """A raw ``sendMessage`` SOAP request (the bench and raw-HTTP tests use it; zeep
    cannot send broken base64)."""
    to_xml = f"<toPartyId>{to_party}</toPartyId>" if to_party else ""
    role_xml = f"<toRole>{to_role}</toRole>" if to_role else ""
    content = content_b64 if content_b64 is not None else base64.b64encode(payload).decode()
    return (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:ebms="http://www.ordina.nl/ebms/2.18"><soapenv:Body><ebms:sendMessage><message>'
        f"<properties><cpaId>{escape(cpa_id)}</cpaId><fromPartyId>{escape(from_party)}</fromPartyId>"
        f"<fromRole>{from_role}</fromRole>{to_xml}{role_xml}<service>{escape(service)}</service>"
        f"<action>{escape(action)}</action></properties>"
        f"<dataSource><name>{escape(name)}</name><contentType>application/xml</contentType>"
        f"<content>{content}</content></dataSource>"
        "</message></ebms:sendMessage></soapenv:Body></soapenv:Envelope>"
    ).encode()
