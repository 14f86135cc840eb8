"""The EbMSMessageService SOAP API, through zeep over mTLS, built from BBX's own WSDL."""

from __future__ import annotations

import gzip
import time

import httpx
import pytest
from lxml import etree
from sim_helpers import MIJNOVERHEID, official_response_schema, properties, send, wait_for_inbound
from zeep.exceptions import Fault

from simulator.client import client_context
from simulator.samples import SampleBericht, batch_xml, send_message_envelope
from simulator.testing import INTERMEDIARY, SENDER_A, SENDER_B

CPA_A = f"cpa-{SENDER_A}"
PARTY_A = f"urn:osb:oin:{SENDER_A}"


def _batch(simulator, count: int = 2) -> bytes:
    bsns = simulator.admin.sample(SENDER_A, "active", count)
    return batch_xml([SampleBericht(b) for b in bsns], SENDER_A)


def test_ping(ebms):
    assert ebms.ping(cpaId=CPA_A, fromPartyId=PARTY_A, toPartyId=MIJNOVERHEID) is None


@pytest.mark.parametrize(
    ("cpa", "from_party", "to_party", "error"),
    [
        ("cpa-unknown", PARTY_A, MIJNOVERHEID, "CPA cpa-unknown not found"),
        (CPA_A, f"urn:osb:oin:{SENDER_B}", MIJNOVERHEID, "fromPartyId"),
        (CPA_A, PARTY_A, "urn:osb:oin:00000000000000000001", "toPartyId"),
    ],
)
def test_ping_faults(ebms, cpa, from_party, to_party, error):
    with pytest.raises(Fault, match=error) as caught:
        ebms.ping(cpaId=cpa, fromPartyId=from_party, toPartyId=to_party)
    assert (
        caught.value.detail[0].tag == "{http://www.ordina.nl/ebms/2.18}EbMSMessageServiceException"
    )


def test_send_get_process_a_batch_result(simulator, ebms):
    payload = _batch(simulator)
    message_id = send(ebms, payload, conversationId="conv-1")
    assert message_id
    assert ebms.getMessageStatus(messageId=message_id).status == "DELIVERED"

    (result,) = wait_for_inbound(ebms, message_id)
    props = result.properties
    assert props.action == "GLOBE-R-BV-Result"
    assert props.cpaId == CPA_A
    assert props.fromParty.partyId == MIJNOVERHEID and props.fromParty.role == "SP"
    assert props.toParty.partyId == PARTY_A and props.toParty.role == "SR"
    assert props.service == "urn:osb:services:MIJNOVERHEID.ebMS.BB.2.0"
    assert props.conversationId == "conv-1"
    assert props.refToMessageId == message_id
    assert props.messageStatus == "RECEIVED"
    content = result.dataSource[0].content
    assert official_response_schema().validate(etree.fromstring(content))

    # listed until processed; processMessage twice and for unknown ids is no error
    assert props.messageId in ebms.getUnprocessedMessageIds()
    assert ebms.getMessageStatus(messageId=props.messageId).status == "RECEIVED"
    ebms.processMessage(messageId=props.messageId)
    ebms.processMessage(messageId=props.messageId)
    ebms.processMessage(messageId="no-such-message")
    assert props.messageId not in (ebms.getUnprocessedMessageIds() or [])
    assert ebms.getMessageStatus(messageId=props.messageId).status == "PROCESSED"
    assert ebms.getMessage(messageId=props.messageId).properties.messageStatus == "PROCESSED"


def test_result_only_appears_after_the_delay(simulator, ebms):
    simulator.admin.settings(result_delay=0.6)
    message_id = send(ebms, _batch(simulator))
    assert not ebms.getUnprocessedMessageIds()
    time.sleep(0.7)
    assert len(wait_for_inbound(ebms, message_id, timeout=1)) == 1


def test_get_message_with_process_true(simulator, ebms):
    message_id = send(ebms, _batch(simulator))
    (result,) = wait_for_inbound(ebms, message_id)
    fetched = ebms.getMessage(messageId=result.properties.messageId, process=True)
    assert fetched.properties.messageStatus == "PROCESSED"
    assert not ebms.getUnprocessedMessageIds()


def test_filter_and_max_nr(simulator, ebms):
    first = send(ebms, _batch(simulator, 1))
    second = send(ebms, _batch(simulator, 1))
    wait_for_inbound(ebms, second)
    ids = ebms.getUnprocessedMessageIds()
    assert len(ids) == 2
    assert ebms.getUnprocessedMessageIds(maxNr=1) == ids[:1]  # oldest first
    only = ebms.getUnprocessedMessageIds(messageFilter={"refToMessageId": first})
    assert len(only) == 1 and ebms.getMessage(messageId=only[0]).properties.refToMessageId == first
    assert not ebms.getUnprocessedMessageIds(messageFilter={"action": "GLOBE-R-A-Result"})
    assert (
        len(
            ebms.getUnprocessedMessageIds(
                messageFilter={"cpaId": CPA_A, "fromParty": {"partyId": MIJNOVERHEID}}
            )
        )
        == 2
    )


def test_a_sender_sees_only_its_own_inbound_messages(simulator, ebms):
    message_id = send(ebms, _batch(simulator))
    wait_for_inbound(ebms, message_id)
    other = simulator.ebms_client(SENDER_B)
    assert not other.getUnprocessedMessageIds()
    inbound_id = ebms.getUnprocessedMessageIds()[0]
    with pytest.raises(Fault, match="not found"):
        other.getMessage(messageId=inbound_id)


def test_an_intermediary_certificate_can_serve_several_senders(simulator):
    for oin in (SENDER_A, SENDER_B):
        sender = simulator.sender(oin).to_dict()
        simulator.admin.add_sender(
            oin,
            sender["message_types"],
            certificate_oins=[oin, INTERMEDIARY],
            population=sender["population"],
        )
    client = simulator.ebms_client(INTERMEDIARY)
    for oin in (SENDER_A, SENDER_B):
        bsns = simulator.admin.sample(oin, "active", 1)
        send(client, batch_xml([SampleBericht(bsns[0])], oin), oin=oin)
    deadline = time.monotonic() + 5
    while len(client.getUnprocessedMessageIds() or []) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(client.getUnprocessedMessageIds()) == 2


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"cpaId": "cpa-nope"}, "CPA cpa-nope not found"),
        ({"fromPartyId": f"urn:osb:oin:{SENDER_B}"}, "fromPartyId"),
        ({"toPartyId": PARTY_A}, "toPartyId"),
        ({"fromRole": "SP"}, "fromRole"),
        ({"toRole": "SR"}, "toRole"),
        ({"service": "urn:osb:services:other"}, "service"),
        ({"action": "GLOBE-R-X-Request"}, "action GLOBE-R-X-Request not found"),
    ],
)
def test_send_message_faults(simulator, ebms, overrides, error):
    with pytest.raises(Fault, match=error) as caught:
        send(ebms, _batch(simulator), **overrides)
    assert (
        caught.value.detail[0].tag == "{http://www.ordina.nl/ebms/2.18}EbMSMessageServiceException"
    )
    assert simulator.admin.stats()["messages_received"] == 0


def test_send_message_without_data_source_is_a_fault(ebms):
    with pytest.raises(Fault, match="dataSource"):
        ebms.sendMessage(message={"properties": properties()})


def test_duplicate_ebms_message_id_is_a_fault(simulator, ebms):
    send(ebms, _batch(simulator), messageId="fixed-id@bbx")
    with pytest.raises(Fault, match="already exists"):
        send(ebms, _batch(simulator), messageId="fixed-id@bbx")


def _raw_post(simulator, body: bytes) -> httpx.Response:
    context = client_context(simulator.pki.ca, simulator.cert(SENDER_A))
    with httpx.Client(verify=context, timeout=10) as client:
        return client.post(
            simulator.ebms_url,
            content=body,
            headers={"Content-Type": "text/xml", "SOAPAction": '""'},
        )


def test_bad_base64_is_a_fault(simulator):
    body = send_message_envelope(
        cpa_id=CPA_A,
        from_party=PARTY_A,
        action="GLOBE-R-BV-Request",
        payload=b"",
        content_b64="!!not base64!!",
    )
    response = _raw_post(simulator, body)
    assert response.status_code == 500
    assert "EbMSMessageServiceException" in response.text
    assert "base64" in response.text


def test_qualified_children_are_rejected(simulator):
    """Strict like the adapter: children of the wrapper must be unqualified."""
    body = (
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:e="http://www.ordina.nl/ebms/2.18"><soapenv:Body><e:ping><e:cpaId>x</e:cpaId>'
        b"<e:fromPartyId>y</e:fromPartyId><e:toPartyId>z</e:toPartyId></e:ping></soapenv:Body></soapenv:Envelope>"
    )
    response = _raw_post(simulator, body)
    assert response.status_code == 500
    assert "Unmarshalling Error" in response.text


def test_unknown_message_status_is_a_fault(ebms):
    with pytest.raises(Fault, match="not found"):
        ebms.getMessageStatus(messageId="nope")
    with pytest.raises(Fault, match="not found"):
        ebms.getMessage(messageId="nope")


def test_wsdl_is_served_with_the_simulator_address(simulator):
    client = simulator.ebms_client(wsdl=None)
    assert client._binding_options["address"] == simulator.ebms_url
    import zeep

    from simulator.client import _zeep_transport

    served = zeep.Client(
        simulator.ebms_url + "?wsdl",
        transport=_zeep_transport(simulator.pki.ca, simulator.cert(), 10),
    )
    assert served.service.ping(cpaId=CPA_A, fromPartyId=PARTY_A, toPartyId=MIJNOVERHEID) is None


def test_gzip_payload_is_accepted(simulator, ebms):
    message_id = send(ebms, gzip.compress(_batch(simulator, 1)))
    (result,) = wait_for_inbound(ebms, message_id)
    assert b"<VerwerkingsCode>Verwerkt</VerwerkingsCode>" in result.dataSource[0].content
