"""GLOBE-R-A-Request: the official examples, full list, changes since a date, BSN list,
and an answer in the assumed AbonnementAntwoord shape (gzip, one schema file)."""

from __future__ import annotations

import gzip
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from sim_helpers import send, wait_for_inbound

from simulator.clock import TZ
from simulator.config import DEFAULT_LOGIUS_DIR, DEFAULT_SCHEMAS_DIR
from simulator.samples import register_request_xml
from simulator.schemas import load_own_xsd
from simulator.testing import SENDER_A

EXAMPLES = Path(DEFAULT_LOGIUS_DIR) / "examples"
SUBSCRIPTION = Path(DEFAULT_SCHEMAS_DIR) / "subscription"
ACTION = "GLOBE-R-A-Request"


def answer(ebms, payload: bytes) -> etree._Element:
    message_id = send(ebms, payload, action=ACTION)
    (message,) = wait_for_inbound(ebms, message_id)
    assert message.properties.action == "GLOBE-R-A-Result"
    source = message.dataSource[0]
    assert source.contentType == "application/gzip"
    xml = gzip.decompress(source.content)
    root = etree.fromstring(xml)
    assert load_own_xsd(SUBSCRIPTION / "AbonnementAntwoord.xsd").validate(root)
    ebms.processMessage(messageId=message.properties.messageId)
    return root


def entries(root) -> dict[str, tuple[str, str, str | None]]:
    return {
        a.findtext("BSN"): (
            a.findtext("Status"),
            a.findtext("DatumIngang"),
            a.findtext("DatumEinde"),
        )
        for a in root.find("Abonnementen")
    }


@pytest.mark.parametrize("name", ["Volledig", "Mutatie", "BSNLijst"])
def test_official_examples_validate_against_our_request_schema(name):
    schema = load_own_xsd(SUBSCRIPTION / "AbonnementAanvraag.xsd")
    doc = etree.parse(str(EXAMPLES / f"GLOBE-R-A-Request-{name}.xml"))
    assert schema.validate(doc), schema.error_log


@pytest.mark.parametrize("name", ["Volledig", "Mutatie", "BSNLijst"])
def test_official_examples_are_accepted_but_placeholder_oin_gets_no_answer(simulator, ebms, name):
    example = (EXAMPLES / f"GLOBE-R-A-Request-{name}.xml").read_bytes()
    message_id = send(ebms, example, action=ACTION)
    (record,) = simulator.admin.register_requests()
    assert record["outcome"] == "rejected"
    assert "is not the OIN of CPA" in record["reason"]
    assert (
        record["kind"]
        == {"Volledig": "volledig", "Mutatie": "mutaties", "BSNLijst": "bsnlijst"}[name]
    )
    assert ebms.getMessageStatus(messageId=message_id).status == "DELIVERY_FAILED"
    assert not wait_for_inbound(ebms, message_id, timeout=0.5)


@pytest.mark.parametrize("name", ["Volledig", "Mutatie", "BSNLijst"])
def test_official_examples_with_the_real_oin_are_answered(simulator, ebms, name):
    example = (EXAMPLES / f"GLOBE-R-A-Request-{name}.xml").read_text()
    example = example.replace("OIN Nummer", SENDER_A).replace("OIN nummer", SENDER_A)
    root = answer(ebms, example.encode())
    assert root.findtext("VerzoekId") in ("verzoekId", "${Genereer ids#verzoekId}")
    found = entries(root)
    if name == "BSNLijst":
        assert found == {}  # BSN_12345 etc. are no subscribers
    else:
        assert found  # full list, or every change since 2016


def test_full_list_is_everyone_subscribed_today(simulator, ebms):
    today = simulator.app.clock.today()
    simulator.admin.set_today(today)
    root = answer(ebms, register_request_xml(SENDER_A, "v-1"))
    found = entries(root)
    population = simulator.app.population(SENDER_A)
    expected = {bsn for bsn, _, _ in population.active_on(today)}
    assert set(found) == expected
    assert {status for status, _, end in found.values()} == {"Actief"}
    assert all(end is None for _, _, end in found.values())
    assert root.findtext("VerzoekId") == "v-1"
    assert root.findtext("PeilDatum").startswith(today.isoformat())


def test_changes_between_day_n_and_n_plus_1(simulator, ebms):
    day_n = date(2026, 6, 15)
    simulator.admin.set_today(day_n)
    full_n = entries(answer(ebms, register_request_xml(SENDER_A)))
    peildatum = datetime.combine(day_n, datetime.now(TZ).timetz())

    simulator.admin.set_today(day_n + timedelta(days=1))
    changes = entries(answer(ebms, register_request_xml(SENDER_A, since=peildatum)))
    full_n1 = entries(answer(ebms, register_request_xml(SENDER_A)))

    assert changes, "the seeded population must change from day N to N+1"
    signed_up = set(full_n1) - set(full_n)
    signed_off = set(full_n) - set(full_n1)
    assert signed_up | signed_off == set(changes)
    for bsn in signed_up:
        assert changes[bsn] == ("Actief", (day_n + timedelta(days=1)).isoformat(), None)
    for bsn in signed_off:
        status, _, end = changes[bsn]
        assert status == "Beeindigd" and end == (day_n + timedelta(days=1)).isoformat()
    admin_view = simulator.admin.changes(SENDER_A, until=day_n + timedelta(days=1))
    assert set(admin_view["signups"]) == signed_up and set(admin_view["signoffs"]) == signed_off


def test_bsn_list(simulator, ebms):
    active = simulator.admin.sample(SENDER_A, "active", 2)
    ended = simulator.admin.sample(SENDER_A, "inactive", 1)
    never = simulator.admin.sample(SENDER_A, "never", 1)
    found = entries(
        answer(ebms, register_request_xml(SENDER_A, bsns=[*active, *ended, *never, active[0]]))
    )
    assert set(found) == {*active, *ended}
    assert found[ended[0]][0] == "Beeindigd" and found[ended[0]][2]
    assert found[active[0]][0] == "Actief"


def test_explicit_subscriptions_show_in_answers(simulator, ebms):
    simulator.admin.subscribe(SENDER_A, ["249566758"], start="2026-01-01")
    found = entries(answer(ebms, register_request_xml(SENDER_A, bsns=["249566758"])))
    assert found == {"249566758": ("Actief", "2026-01-01", None)}


def test_a_request_that_breaks_the_schema_gets_no_answer(simulator, ebms):
    message_id = send(
        ebms, b"<AbonnementAanvraag><VerzoekId>1</VerzoekId></AbonnementAanvraag>", action=ACTION
    )
    (record,) = simulator.admin.register_requests()
    assert record["outcome"] == "rejected" and "AbonnementAanvraag.xsd" in record["reason"]
    assert ebms.getMessageStatus(messageId=message_id).status == "DELIVERY_FAILED"


def test_large_population_is_streamed(simulator, ebms):
    """100,000 subscribers: the answer is produced from the seed, not from a table."""
    simulator.admin.add_sender(SENDER_A, ["UPO2026"], population={"seed": 3, "size": 100_000})
    root = answer(ebms, register_request_xml(SENDER_A))
    assert len(root.find("Abonnementen")) == sum(
        1 for _ in simulator.app.population(SENDER_A).active_on(simulator.app.clock.today())
    )
