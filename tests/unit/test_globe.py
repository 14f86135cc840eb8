"""GLOBE batch building and result parsing, proven against the OFFICIAL Logius schemas."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from bbx import schemas
from bbx.domain import bsn, ids
from bbx.domain.globe import (
    ENVELOPE_MAX_BYTES,
    NS_BATCH,
    NS_MESSAGE,
    NS_RESULT_MESSAGE,
    Attachment,
    BatchHeader,
    BatchValidationError,
    GlobeError,
    MessageContentError,
    OutgoingMessage,
    ResultParseError,
    build_batch,
    normalise_text,
    parse_batch_result,
    serialized_size,
    validate_batch,
)
from bbx.domain.limits import MAX_MESSAGES_PER_BATCH

LOGIUS = (Path(__file__).parents[2] / "../shared/reference/logius").resolve()
REQUEST_XSD = LOGIUS / "BerichtVerwerkService/Request/GLOBEBatchRequest.xsd"
REQUEST_TYPES_XSD = LOGIUS / "BerichtVerwerkService/Request/GLOBEBatchRequestTypes_128ch.xsd"
RESPONSE_XSD = LOGIUS / "BerichtVerwerkService/Response/GLOBEBatchResponse.xsd"

OIN = "00000001234567890000"
CREATED = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
BSNS = list(bsn.generate(20, seed=7))


class _OfficialTypesResolver(etree.Resolver):
    """Logius ships GLOBEBatchRequestTypes.xsd as ..._128ch.xsd (see README)."""

    def resolve(self, url, public_id, context):
        if url.endswith("GLOBEBatchRequestTypes.xsd"):
            return self.resolve_filename(str(REQUEST_TYPES_XSD), context)
        return None


@pytest.fixture(scope="module")
def official_request_schema() -> etree.XMLSchema:
    if not REQUEST_XSD.is_file():
        pytest.fail(f"official Logius schemas not found at {LOGIUS} (shared/ must lie beside the project)")
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_OfficialTypesResolver())
    return etree.XMLSchema(etree.parse(str(REQUEST_XSD), parser))


@pytest.fixture(scope="module")
def official_response_schema() -> etree.XMLSchema:
    if not RESPONSE_XSD.is_file():
        pytest.fail(f"official Logius schemas not found at {LOGIUS} (shared/ must lie beside the project)")
    return etree.XMLSchema(etree.parse(str(RESPONSE_XSD)))


def header(number: int = 1) -> BatchHeader:
    return BatchHeader(ids.batch_id("gemeente-a", "sub-1", number), CREATED, OIN)


def message(i: int, **changes) -> OutgoingMessage:
    base = OutgoingMessage(
        message_id=ids.message_id("gemeente-a", "sub-1", BSNS[i]),
        message_type_code="PAS2026",
        subject="Uw paspoort verloopt",
        text="Beste inwoner,\nUw paspoort verloopt binnenkort.",
        bsn=BSNS[i],
    )
    return replace(base, **changes)


def full_message(i: int) -> OutgoingMessage:
    """A message with every optional element present."""
    return message(
        i,
        text="Geachte heer/mevrouw,\r\nregel 2\nregel 3\rregel 4 — € & <tags> 'quotes' \"dq\"",
        reference="Ref & <1>",
        subject="Belasting 2026: aanslag & <bijlage>",
        publication_date=datetime(2026, 3, 5, 8, 0, tzinfo=timezone(timedelta(hours=1))),
        action_deadline=datetime(2026, 4, 1, 0, 0, tzinfo=UTC),
        attachments=(
            Attachment("Aanslag 2026", b"%PDF-1.7 first \x00\xff binary", 1),
            Attachment("Folder: bezwaar & beroep", b"%PDF-1.7 second", 2),
        ),
    )


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def m(name: str) -> str:
    return f"{{{NS_MESSAGE}}}{name}"


# --------------------------------------------------------------------------- build


def test_batch_validates_against_bbx_and_official_schemas(official_request_schema):
    messages = [message(0), full_message(1), message(2, text=None, reference="abc")]
    data = build_batch(header(), messages)

    document = parse(data)
    assert official_request_schema.validate(document), official_request_schema.error_log
    assert schemas.xml_schema(schemas.GLOBE_BATCH_REQUEST).validate(document)


def test_root_namespaces_and_batch_information():
    data = build_batch(header(), [message(0)])
    root = parse(data)

    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert root.tag == f"{{{NS_BATCH}}}Berichten"
    info = root[0]
    assert info.tag == f"{{{NS_BATCH}}}BatchInformatie"
    assert [child.tag.split("}")[1] for child in info] == [
        "BatchID",
        "AanmaakDatum",
        "BerichtLeverancierID",
    ]
    assert info[0].text == header().batch_id
    assert info[1].text == "2026-03-02T09:30:15.123Z"
    assert info[2].text == OIN
    assert [child.tag for child in root[1:]] == [m("Bericht")]


def test_message_elements_in_official_order_with_exact_values():
    msg = full_message(3)
    root = parse(build_batch(header(), [msg]))
    info = root.find(m("Bericht")).find(m("BerichtInformatie"))

    assert [child.tag for child in info] == [
        m(name)
        for name in (
            "BatchID",
            "BerichtID",
            "BerichtType",
            "PublicatieDatum",
            "EindDatumHandelingsTermijn",
            "Onderwerp",
            "BerichtTekst",
            "Referentie",
            "GebruikerID",
            "SoortGebruiker",
        )
    ]
    values = {child.tag.split("}")[1]: child.text for child in info}
    assert values["BatchID"] == header().batch_id
    assert values["BerichtID"] == msg.message_id
    assert values["BerichtType"] == "PAS2026"
    assert values["PublicatieDatum"] == "2026-03-05T07:00:00.000Z"  # +01:00 written as UTC
    assert values["EindDatumHandelingsTermijn"] == "2026-04-01T00:00:00.000Z"
    assert values["Onderwerp"] == "Belasting 2026: aanslag & <bijlage>"
    assert values["Referentie"] == "Ref & <1>"
    assert values["GebruikerID"] == BSNS[3]
    assert values["SoortGebruiker"] == "Burger"


def test_text_line_breaks_are_cr_lf_after_parsing():
    msg = message(0, text="een\ntwee\r\ndrie\rvier\n\nvijf")
    root = parse(build_batch(header(), [msg]))
    text = root.find(f"{m('Bericht')}/{m('BerichtInformatie')}/{m('BerichtTekst')}").text

    assert text == "een\r\ntwee\r\ndrie\r\nvier\r\n\r\nvijf"
    assert normalise_text("a\nb\r\nc\rd") == "a\r\nb\r\nc\r\nd"


def test_attachments_are_base64_pdf_in_order():
    msg = full_message(0)
    root = parse(build_batch(header(), [msg]))
    attachments = root.findall(f"{m('Bericht')}/{m('Bijlagen')}/{m('Bijlage')}")

    assert len(attachments) == 2
    for element, source in zip(attachments, msg.attachments, strict=True):
        assert [c.tag for c in element] == [
            m("Inhoud"),
            m("BijlageType"),
            m("Omschrijving"),
            m("Volgorde"),
        ]
        assert base64.b64decode(element.find(m("Inhoud")).text) == source.pdf_bytes
        assert element.find(m("BijlageType")).text == "Pdf"
        assert element.find(m("Omschrijving")).text == source.description
        assert element.find(m("Volgorde")).text == str(source.order)


def test_optional_elements_are_omitted_not_empty():
    msg = message(0, text=None, reference="")
    root = parse(build_batch(header(), [msg]))
    bericht = root.find(m("Bericht"))

    assert bericht.find(f"{m('BerichtInformatie')}/{m('BerichtTekst')}") is None
    assert bericht.find(f"{m('BerichtInformatie')}/{m('Referentie')}") is None
    assert bericht.find(f"{m('BerichtInformatie')}/{m('PublicatieDatum')}") is None
    assert bericht.find(m("Bijlagen")) is None


def test_message_order_is_kept():
    messages = [message(i) for i in range(10)]
    root = parse(build_batch(header(), messages))
    found = [e.text for e in root.iter(m("BerichtID"))]
    assert found == [msg.message_id for msg in messages]


def test_repr_keeps_personal_data_out():
    msg = full_message(0)
    assert BSNS[0] not in repr(msg)
    assert "regel 2" not in repr(msg)


# --------------------------------------------------------------------------- refusals


def test_control_character_is_refused_naming_the_message_not_the_bsn():
    msg = message(4, text="hallo\x07wereld")
    with pytest.raises(MessageContentError) as caught:
        build_batch(header(), [msg])
    assert caught.value.message_id == msg.message_id
    assert "U+0007" in str(caught.value) and "text" in str(caught.value)
    assert BSNS[4] not in str(caught.value)


def test_subject_and_reference_are_escaped_and_control_characters_refused_in_each():
    # plain ASCII values take a short path in the escaping: markup and the refusal still hold
    msg = message(5, subject="A & B <c>", reference="R>1&2")
    root = etree.fromstring(build_batch(header(), [msg]))
    assert [e.text for e in root.iter(m("Onderwerp"))] == ["A & B <c>"]
    assert [e.text for e in root.iter(m("Referentie"))] == ["R>1&2"]
    for field_name, value in (("subject", "tab\x0bbed"), ("reference", "del\x1f"), ("subject", "é\x01")):
        with pytest.raises(MessageContentError, match=field_name):
            build_batch(header(), [message(5, **{field_name: value})])


def test_naive_datetime_is_refused():
    with pytest.raises(MessageContentError, match="timezone-aware"):
        build_batch(header(), [message(0, publication_date=datetime(2026, 3, 5, 8, 0))])
    with pytest.raises(GlobeError, match="timezone-aware"):
        build_batch(BatchHeader(header().batch_id, datetime(2026, 3, 2), OIN), [message(0)])


def test_batch_needs_one_to_a_thousand_messages():
    with pytest.raises(GlobeError, match="at least one"):
        build_batch(header(), [])
    one = message(0)
    too_many = (replace(one, message_id=str(uuid.UUID(int=i))) for i in range(1001))
    with pytest.raises(GlobeError, match=f"more than {MAX_MESSAGES_PER_BATCH}"):
        build_batch(header(), too_many, validate=False)


def test_invalid_message_names_its_berichtid_and_masks_the_bsn():
    bad_bsn = "12345678"  # 8 digits: not \d{9}
    good, bad = message(0), message(1, bsn=bad_bsn, message_type_code="TOOLONGCODE")
    with pytest.raises(BatchValidationError) as caught:
        build_batch(header(), [good, bad])

    error = caught.value
    assert error.message_ids == (bad.message_id,)
    assert any("GebruikerID" in p and "message 2" in p for p in error.problems)
    assert any("BerichtType" in p and "maximum length of '8'" in p for p in error.problems)
    assert bad_bsn not in str(error)
    assert all("{" not in p for p in error.problems)  # namespaces stripped for readability


def test_duplicate_message_ids_are_refused_by_bbx_schema():
    with pytest.raises(BatchValidationError, match="uniqueMessageId"):
        build_batch(header(), [message(0), message(0)])


def test_validate_batch_refuses_non_xml():
    with pytest.raises(BatchValidationError, match="not well-formed"):
        validate_batch(b"<Berichten><unclosed>")


def test_bbx_schema_is_tighter_than_official(official_request_schema):
    """Documents BBX refuses that Logius would accept — never the other way round."""
    bbx_schema = schemas.xml_schema(schemas.GLOBE_BATCH_REQUEST)
    data = build_batch(header(), [full_message(0)])
    variants = {
        "Volgorde 3": data.replace(b"<ns2:Volgorde>2<", b"<ns2:Volgorde>3<"),
        "same Volgorde twice": data.replace(b"<ns2:Volgorde>2<", b"<ns2:Volgorde>1<"),
        "no time zone": data.replace(b"09:30:15.123Z", b"09:30:15.123"),
        "GebruikerID not a BSN": data.replace(BSNS[0].encode(), b"ABC"),
        "Bericht of another batch": data.replace(
            f"<ns2:BatchID>{header().batch_id}".encode(),
            f"<ns2:BatchID>{uuid.UUID(int=5)}".encode(),
        ),
    }
    for name, variant in variants.items():
        document = parse(variant)
        assert not bbx_schema.validate(document), name
        assert official_request_schema.validate(document), name


def test_everything_bbx_accepts_the_official_schema_accepts(official_request_schema):
    bbx_schema = schemas.xml_schema(schemas.GLOBE_BATCH_REQUEST)
    candidates = [
        message(0, subject="x" * 50, text="y" * 4000, reference="z" * 25),
        message(1, subject="x" * 51),
        message(2, text="é" * 3999 + "\n"),  # 4001 after CR LF
        message(3, attachments=(Attachment("d" * 128, b"%PDF", 1),)),
        message(4, attachments=(Attachment("d" * 129, b"%PDF", 1),)),
        message(5, message_type_code="ABCDEFGH", reference="r"),
    ]
    accepted = 0
    for candidate in candidates:
        document = parse(build_batch(header(), [candidate], validate=False))
        if bbx_schema.validate(document):
            accepted += 1
            assert official_request_schema.validate(document), official_request_schema.error_log
    assert accepted == 3


# --------------------------------------------------------------------------- sizing


def test_serialized_size_is_exact_per_message():
    first, second = full_message(0), message(1, text="ü\n" * 100)
    one = build_batch(header(), [first])
    two = build_batch(header(), [first, second])

    assert len(two) - len(one) == serialized_size(second)
    assert len(one) <= ENVELOPE_MAX_BYTES + serialized_size(first)
    assert ENVELOPE_MAX_BYTES + serialized_size(first) - len(one) < 150


def test_serialized_size_counts_base64_without_encoding():
    payload = bytes(range(256)) * 1000
    msg = message(0, attachments=(Attachment("A", payload, 1),))
    plain = message(0)
    assert serialized_size(msg) - serialized_size(plain) == len(
        "<ns2:Bijlagen><ns2:Bijlage><ns2:Inhoud></ns2:Inhoud><ns2:BijlageType>Pdf</ns2:BijlageType>"
        "<ns2:Omschrijving>A</ns2:Omschrijving><ns2:Volgorde>1</ns2:Volgorde></ns2:Bijlage>"
        "</ns2:Bijlagen>"
    ) + len(base64.b64encode(payload))


# --------------------------------------------------------------------------- result

RESULT_TEMPLATE = """<?xml version="1.0" encoding="utf-8"?>
<ns0:BerichtVerwerkResponse xmlns:ns0="{ns_batch}" xmlns:ns1="{ns_result}">
  <BatchInformatie>
    <BerichtLeverancierCode>{oin}</BerichtLeverancierCode>
    <BatchID>{batch_id}</BatchID>
    <TotaalAantalOntvangenBerichten>3</TotaalAantalOntvangenBerichten>
    <AantalBerichtenSuccesvolVerwerkt>1</AantalBerichtenSuccesvolVerwerkt>
    <AantalBerichtenGeenActieveBoxOfGeabonneertOpLeverancier>1</AantalBerichtenGeenActieveBoxOfGeabonneertOpLeverancier>
    <AantalBerichtenMetTechnischProbleem>1</AantalBerichtenMetTechnischProbleem>
    <AantalBerichtenBerichtTypeNietCorrect>0</AantalBerichtenBerichtTypeNietCorrect>
    <AantalBerichtenPublicatieDatumNietCorrect>0</AantalBerichtenPublicatieDatumNietCorrect>
    <AantalBerichtenAanmaakDatumNietCorrect>0</AantalBerichtenAanmaakDatumNietCorrect>
    <DatumOntvangen>2026-03-02T10:00:00.5+01:00</DatumOntvangen>
    <DatumVerwerkt>2026-03-02T10:05:00.1234567</DatumVerwerkt>
  </BatchInformatie>
  <Berichten>{berichten}</Berichten>
</ns0:BerichtVerwerkResponse>"""

RESULT_MESSAGE = (
    "<{tag}><BerichtID>{message_id}</BerichtID><BerichtType>PAS2026</BerichtType>"
    "<VerwerkingsCode>{code}</VerwerkingsCode>{stage}</{tag}>"
)


def result_xml(codes, *, tag="ns1:Bericht", batch_id=None, message_ids=None) -> bytes:
    message_ids = message_ids or [message(i).message_id for i in range(len(codes))]
    berichten = "".join(
        RESULT_MESSAGE.format(
            tag=tag,
            message_id=message_id,
            code=code,
            stage="<Stadium>NA</Stadium>" if code == "Verwerkt" else "",
        )
        for message_id, code in zip(message_ids, codes, strict=True)
    )
    return RESULT_TEMPLATE.format(
        ns_batch=NS_BATCH,
        ns_result=NS_RESULT_MESSAGE,
        oin=OIN,
        batch_id=batch_id or header().batch_id,
        berichten=berichten,
    ).encode("utf-8")


def test_result_in_official_shape_parses(official_response_schema):
    data = result_xml(["Verwerkt", "NietActiefOfGeabonneerd", "TechnischProbleem"])
    assert official_response_schema.validate(etree.fromstring(data))
    assert schemas.xml_schema(schemas.GLOBE_BATCH_RESPONSE).validate(etree.fromstring(data))

    result = parse_batch_result(data)

    assert result.batch_id == header().batch_id
    assert result.supplier_code == OIN
    assert (result.total_received, result.succeeded, result.not_subscribed) == (3, 1, 1)
    assert result.technical_problem == 1
    assert result.message_type_incorrect == 0
    assert result.publication_date_incorrect == 0
    assert result.creation_date_incorrect == 0
    assert result.received_at == datetime(2026, 3, 2, 9, 0, 0, 500000, tzinfo=UTC)
    # No zone given: read as Dutch local time (CET in March = UTC+1).
    assert result.processed_at.astimezone(UTC) == datetime(2026, 3, 2, 9, 5, 0, 123456, tzinfo=UTC)
    assert [(r.message_id, r.message_type, r.code, r.stage) for r in result.messages] == [
        (message(0).message_id, "PAS2026", "Verwerkt", "NA"),
        (message(1).message_id, "PAS2026", "NietActiefOfGeabonneerd", None),
        (message(2).message_id, "PAS2026", "TechnischProbleem", None),
    ]
    assert result.inconsistencies() == ()


def test_result_with_unqualified_bericht_and_unknown_code_is_read_leniently():
    data = result_xml(["00", "Verwerkt", "SomethingNew"], tag="Bericht")
    result = parse_batch_result(data)
    assert [r.code for r in result.messages] == ["00", "Verwerkt", "SomethingNew"]


def test_result_ids_are_normalised_to_lower_case():
    upper = message(0).message_id.upper()
    data = result_xml(["Verwerkt"], message_ids=[upper], batch_id=header().batch_id.upper())
    result = parse_batch_result(data)
    assert result.batch_id == header().batch_id
    assert result.messages[0].message_id == message(0).message_id
    assert result.inconsistencies() == (
        "TotaalAantalOntvangenBerichten is 3 but the result lists 1 messages",
    )


def test_result_with_missing_counts_and_empty_berichten():
    data = (
        f'<BerichtVerwerkResponse xmlns="{NS_BATCH}"><BatchInformatie xmlns="">'
        f"<BatchID>{header().batch_id}</BatchID>"
        "<TotaalAantalOntvangenBerichten>x</TotaalAantalOntvangenBerichten>"
        '</BatchInformatie><Berichten xmlns=""/></BerichtVerwerkResponse>'
    ).encode()
    result = parse_batch_result(data)
    assert result.messages == ()
    assert result.total_received is None and result.received_at is None
    assert result.supplier_code == ""


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not xml", "not well-formed"),
        (b"<Other/>", "expected root BerichtVerwerkResponse"),
        (b"<BerichtVerwerkResponse/>", "no BatchInformatie"),
        (
            b"<BerichtVerwerkResponse><BatchInformatie/></BerichtVerwerkResponse>",
            "no BatchID",
        ),
    ],
)
def test_unusable_results_are_refused(data, reason):
    with pytest.raises(ResultParseError, match=reason):
        parse_batch_result(data)


def test_result_message_without_id_is_refused():
    data = (
        result_xml(["Verwerkt"]).replace(b"<BerichtID>", b"<X>").replace(b"</BerichtID>", b"</X>")
    )
    with pytest.raises(ResultParseError, match="result message 1 has no BerichtID"):
        parse_batch_result(data)


def test_result_with_entities_is_refused_without_expanding_them():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<BerichtVerwerkResponse><BatchInformatie><BatchID>&lol2;</BatchID>"
        b"</BatchInformatie></BerichtVerwerkResponse>"
    )
    with pytest.raises(ResultParseError, match="DOCTYPE"):
        parse_batch_result(bomb)
