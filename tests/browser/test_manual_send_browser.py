"""Headless Chromium: an operator's colleague signs in, sends a manual message with a PDF
(BSNs checked as typed), and finds it on the BSN lookup page — in Dutch, the default (the
browser asks for ``nl-NL``), then switches to English. Screenshots of the main pages in
Dutch (``nl-*.png``) are saved in ``test-artifacts/`` (git-ignored; the path is printed)."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import pytest
from api_helpers import PASSWORD, bsns, make_pdf, person, seed_register, send, set_outcomes
from fastapi.testclient import TestClient

from bbx.api import service

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


@pytest.fixture
def server(app):
    """The real app over real HTTP (uvicorn in a thread) on a free port."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="nl-NL")
        yield context.new_page()
        context.close()
        browser.close()


def test_manual_send_with_pdf_then_lookup(server, page, keys, configured, tmp_path, app):
    app_for_api = app
    ARTIFACTS.mkdir(exist_ok=True)
    target, other = bsns(2, seed=91)
    pdf = tmp_path / "beschikking.pdf"
    pdf.write_bytes(make_pdf("WOZ-beschikking 2026"))

    page.goto(f"{server}/send")
    assert re.search(r"/login\?next=", page.url)
    assert page.locator("html").get_attribute("lang") == "nl"
    page.screenshot(path=str(ARTIFACTS / "nl-login.png"), full_page=True)
    page.get_by_label("Gebruikersnaam").fill(person(keys.a))  # a person's account, not the system's key
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}/send")

    page.get_by_label("Berichttype").select_option("voorbeeld/WOZ2026")
    assert "geen standaardtekst" in page.locator("#type-info").inner_text()  # the JavaScript speaks Dutch too
    page.get_by_label("Tekst", exact=True).fill("Geachte heer, mevrouw,\n\nIn de bijlage vindt u uw WOZ-beschikking.")
    page.get_by_label("PDF 1").set_input_files(str(pdf))
    bsn_box = page.get_by_label("BSNs")
    bsn_box.press_sequentially(target[:8] + "9")  # a typing error ...
    assert "1 niet geldig" in page.locator("#bsn-status").inner_text()
    assert bsn_box.get_attribute("aria-invalid") == "true"
    bsn_box.fill("")
    bsn_box.press_sequentially(target)  # ... corrected
    status = page.locator("#bsn-status").inner_text()
    assert "1 geldig BSN" in status and "niet geldig" not in status
    page.get_by_role("button", name="Versturen", exact=True).click()

    done = page.locator("#done")
    done.wait_for()
    heading = done.locator("h2").inner_text()
    submission_id = int(re.search(r"Aanlevering (\d+) aangenomen", heading).group(1))
    assert page.evaluate("document.activeElement.id") == "done"  # focus moves to the result
    assert page.get_by_label("BSNs").input_value() == ""  # ready for the next one
    page.screenshot(path=str(ARTIFACTS / "nl-send.png"), full_page=True)

    page.get_by_role("link", name="BSN opzoeken").click()
    page.get_by_label("BSN", exact=True).fill(target)
    assert page.locator("#bsn-check").inner_text() == "Geldig BSN"
    page.get_by_role("button", name="Opzoeken").click()
    result = page.locator("#result")
    result.wait_for()
    text = result.inner_text()
    assert f"BSN {target}" in text and "niet geabonneerd volgens het register van BBX" in text
    row = result.locator("table.messages tbody tr").first
    cells = row.locator("td").all_inner_texts()
    assert cells[1].startswith(f"{submission_id} (manual)") and cells[2] == "WOZ2026"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d \((CET|CEST)\)", cells[0]), cells[0]  # Dutch time, its zone
    assert cells[4] == "wacht op verzending" and cells[6] == "1"  # one personal PDF
    page.screenshot(path=str(ARTIFACTS / "nl-bsn-lookup.png"), full_page=True)

    # as if delivery ran and the register was refreshed: the reports page has something to show
    set_outcomes(configured, submission_id, {1: ("delivered", "Verwerkt", None)})
    earlier = send(TestClient(app_for_api), keys.a, message_type="PASPRT", bsns=bsns(6, seed=93)).json()["id"]
    set_outcomes(configured, earlier, {1: ("delivered", "Verwerkt", None), 2: ("delivered", "Verwerkt", None),
                                       3: ("not_subscribed", "register", "not in the register on the send date"),
                                       4: ("failed", "BijlageTeGroot", "The attachments are too large")})
    today = service.today()
    seed_register(configured, "voorbeeld", [(b, today.replace(day=1), None) for b in bsns(5, seed=95)])
    page.get_by_role("link", name="Rapportages").click()
    assert page.locator("svg.chart").count() == 3
    main = page.locator("main").inner_text()
    assert "BijlageTeGroot" in main and "Verstuurde berichten per berichttype" in main
    page.screenshot(path=str(ARTIFACTS / "nl-reports.png"), full_page=True)

    page.get_by_role("link", name="Aanleveringen", exact=True).click()
    assert page.locator("h1").inner_text() == "Aanleveringen"
    page.screenshot(path=str(ARTIFACTS / "nl-submissions.png"), full_page=True)
    page.goto(f"{server}/submissions/{earlier}")
    assert "Uitkomsten" in page.locator("main").inner_text()
    page.screenshot(path=str(ARTIFACTS / "nl-submission.png"), full_page=True)
    page.goto(f"{server}/")
    page.screenshot(path=str(ARTIFACTS / "nl-home.png"), full_page=True)

    # the NL/EN switch: English, remembered on the next page
    page.locator("#language-en").click()
    page.wait_for_url(re.compile(r"[?&]lang=en"))
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name="Reports", exact=True).click()
    assert "Messages sent per message type" in page.locator("main").inner_text()
    print(f"\nscreenshots of the pages in Dutch: {ARTIFACTS}/nl-*.png")

    configured.rollback()
    stored = configured.execute(
        "SELECT m.bsn, count(a.*) AS pdfs FROM messages m LEFT JOIN message_attachments a ON a.message_id = m.id"
        " WHERE m.submission_id = %s GROUP BY m.bsn", (submission_id,)).fetchall()
    assert stored == [{"bsn": target, "pdfs": 1}]
    assert other != target


def test_a_scheduled_manual_send_in_the_browser_says_when(server, page, keys, configured):
    """The browser's own date and time fields post what the page reads as Dutch time."""
    from datetime import datetime, timedelta

    from bbx.domain.localtime import TIMEZONE

    moment = (datetime.now(TIMEZONE) + timedelta(days=2)).replace(hour=8, minute=30, second=0, microsecond=0)
    publish = moment.date() + timedelta(days=3)
    page.goto(f"{server}/login?next=/send")
    page.get_by_label("Gebruikersnaam").fill(person(keys.a))
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}/send")
    page.get_by_label("Berichttype").select_option("voorbeeld/PASPRT")
    page.get_by_label("BSNs").fill(bsns(1, seed=431)[0])
    page.get_by_label("Versturen op").fill(moment.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Publicatiedatum").fill(publish.isoformat())
    page.get_by_role("button", name="Versturen", exact=True).click()
    done = page.locator("#done")
    done.wait_for()
    text = done.inner_text()
    assert f"Wordt verstuurd op {moment:%Y-%m-%d} 08:30 (tijdzone Europe/Amsterdam)" in text
    assert f"De burger ziet het bericht vanaf {publish.isoformat()}" in text
