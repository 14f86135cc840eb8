"""Which language a request gets (bbx.api.language), through the real app: Dutch by
default, ``Accept-Language``, the pages' NL/EN switch (cookie), the tenant's setting."""

from __future__ import annotations

import json
import re

from api_helpers import auth, bsns, send, sign_in

from bbx.api.language import from_accept_language

MISSING = "/api/v1/submissions/987654"


def _set_language(db, tenant: str, language: str) -> None:
    db.execute("UPDATE connections SET language = %s WHERE tenant_id = (SELECT id FROM tenants WHERE code = %s)",
               (language, tenant))
    db.commit()


def test_api_errors_are_dutch_by_default_with_the_same_code(client_nl, keys):
    response = client_nl.get(MISSING, headers=auth(keys.a))
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "submission_not_found"
    assert error["message"] == "U hebt geen aanlevering 987654; GET /api/v1/submissions geeft de uwe."
    assert response.headers["content-language"] == "nl"
    # before the caller is known too
    unauthenticated = client_nl.get(MISSING).json()["error"]
    assert unauthenticated["code"] == "unauthenticated" and unauthenticated["message"].startswith("Geen API-sleutel")


def test_accept_language_asks_for_english(client_nl, keys):
    response = client_nl.get(MISSING, headers={**auth(keys.a), "Accept-Language": "en-GB,en;q=0.9,nl;q=0.8"})
    assert response.json()["error"] == {
        "code": "submission_not_found",
        "message": "You have no submission 987654; GET /api/v1/submissions lists yours."}
    assert response.headers["content-language"] == "en"


def test_the_tenants_setting_applies_and_an_explicit_header_wins(client_nl, keys, configured):
    _set_language(configured, "gemeente-voorbeeld", "en")
    assert client_nl.get(MISSING, headers=auth(keys.a)).json()["error"]["message"].startswith("You have no")
    dutch = client_nl.get(MISSING, headers={**auth(keys.a), "Accept-Language": "nl-NL"})
    assert dutch.json()["error"]["message"].startswith("U hebt geen")
    # another tenant keeps its own (default) language
    assert client_nl.get(MISSING, headers=auth(keys.b)).json()["error"]["message"].startswith("U hebt geen")
    # a header naming no supported language does not count as a choice
    assert client_nl.get(MISSING, headers={**auth(keys.a), "Accept-Language": "de-DE"}
                         ).json()["error"]["message"].startswith("You have no")


def test_pages_are_dutch_with_a_switch_to_english_that_is_remembered(client_nl, keys):
    client = client_nl
    sign_in(client, keys.a)
    page = client.get("/send")
    assert '<html lang="nl">' in page.text
    assert "<h1>Een bericht versturen</h1>" in page.text and "Eerst abonnementen controleren" in page.text
    assert 'href="/send?lang=en"' in page.text  # the switch
    texts = json.loads(re.search(r'<script type="application/json" id="bbx-texts">(.*?)</script>',
                                 page.text, re.S).group(1))
    assert texts["Valid BSN"] == "Geldig BSN"  # the JavaScript's texts, in the page's language

    english = client.get("/send?lang=en")
    assert '<html lang="en">' in english.text and "<h1>Send a message</h1>" in english.text
    assert "bbx_lang=en" in english.headers["set-cookie"]
    assert "<h1>Submissions</h1>" in client.get("/submissions").text  # remembered
    assert "<h1>Aanleveringen</h1>" in client.get("/submissions?lang=nl").text


def test_the_keys_and_people_pages_are_dutch_too(client_nl, keys):
    sign_in(client_nl, keys.a)
    page = client_nl.get("/keys").text
    assert "<h1>API-sleutels</h1>" in page and "Een sleutel aanmaken" in page and "Create a key" not in page
    assert "Een sleutel aanmaken" not in client_nl.get("/keys?lang=en").text
    sign_in(client_nl, keys.operator)
    people = client_nl.get("/people?lang=nl").text
    assert "<h1>Personen</h1>" in people and "Een persoon toevoegen" in people and "Gebruikersnaam" in people
    home = client_nl.get("/").text  # the operators' certificate watch
    assert "Clientcertificaten" in home and "Client certificates" not in home


def test_a_page_error_is_in_the_pages_language(client_nl, keys):
    sign_in(client_nl, keys.a)
    missing = client_nl.get("/submissions/987654")
    assert missing.status_code == 404 and "U hebt geen aanlevering 987654" in missing.text
    assert "Op dit adres staat geen BBX-pagina." in client_nl.get("/no-such-page").text


def test_times_on_the_pages_say_their_zone(client_nl, keys):
    sub = send(client_nl, keys.a, message_type="PASPRT", bsns=bsns(1, seed=31)).json()["id"]
    sign_in(client_nl, keys.a)
    page = client_nl.get(f"/submissions/{sub}").text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((CET|CEST)\) door ", page), page[:2000]


def test_accept_language_weights():
    assert from_accept_language("en-US,en;q=0.9") == "en"
    assert from_accept_language("de-DE, nl;q=0.5, en;q=0.7") == "en"
    assert from_accept_language("fr, de") is None
    assert from_accept_language("") is None
    assert from_accept_language("en;q=0, nl") == "nl"
