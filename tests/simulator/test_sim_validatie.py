"""ValidateAbonnementen from the official WSDL, through zeep over mTLS."""

from __future__ import annotations

import pytest
from zeep.exceptions import Fault

from simulator.testing import SENDER_A, SENDER_B

SHARED = "{http://schemas.rdw.nl/GEB/Shared/Types/2009/01}"


def _ask(client, bsns, code=SENDER_A, type_code="UPO2026"):
    return client.service.ValidateAbonnementen(
        validateAbonnementenAanvraag={
            "berichtleverancierCode": code,
            "berichtTypeCode": type_code,
            "klanten": {"Klant": [{"Key": b, "Rol": "Burger"} for b in bsns]},
        }
    )


@pytest.fixture
def validatie(simulator):
    return simulator.validatie_client()


def test_answers_per_bsn(simulator, validatie):
    active = simulator.admin.sample(SENDER_A, "active", 2)
    inactive = simulator.admin.sample(SENDER_A, "inactive", 1)
    never = simulator.admin.sample(SENDER_A, "never", 1)
    answer = _ask(validatie, [*active, *inactive, *never, "123"])
    assert [(a.klant.Key, a.isBerichtSturen) for a in answer] == [
        (active[0], True),
        (active[1], True),
        (inactive[0], False),
        (never[0], False),
        ("123", False),
    ]


def test_at_most_250_bsns(simulator, validatie):
    bsns = simulator.admin.sample(SENDER_A, "active", 251)
    assert len(_ask(validatie, bsns[:250])) == 250
    with pytest.raises(Fault, match="250") as caught:
        _ask(validatie, bsns)
    assert caught.value.detail[0].tag == f"{SHARED}ApplicationFault"


@pytest.mark.parametrize(
    ("code", "type_code", "error"),
    [
        ("00000009999999999000", "UPO2026", "onbekende berichtleverancier"),
        (SENDER_A, "NOPE", "berichttype"),
    ],
)
def test_unknown_sender_or_message_type(validatie, code, type_code, error):
    with pytest.raises(Fault, match=error) as caught:
        _ask(validatie, ["249566758"], code=code, type_code=type_code)
    assert caught.value.detail[0].tag == f"{SHARED}ApplicationFault"


def test_a_certificate_may_only_ask_for_its_own_senders(simulator):
    other = simulator.validatie_client(SENDER_B)
    with pytest.raises(Fault, match="certificaat"):
        _ask(other, ["249566758"], code=SENDER_A)


def test_the_served_wsdl_points_here(simulator, validatie):
    port = next(iter(validatie.wsdl.services.values())).ports
    address = next(iter(port.values())).binding_options["address"]
    assert address == simulator.validatie_url
