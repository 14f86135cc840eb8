"""The pages (manual send, lookup, reports, submissions) through the real app, as HTML."""

from __future__ import annotations

import html
import io
import re

import pytest
from api_helpers import (
    PASSWORD,
    auth,
    bsns,
    form,
    make_pdf,
    person,
    seed_register,
    send,
    set_outcomes,
    sign_in,
    token,
)

from bbx import crypto


@pytest.fixture
def signed_in(client, keys):
    sign_in(client, keys.a)
    return client


def test_pages_ask_tosign_in(client, keys):
    for path in ("/", "/send", "/lookup", "/reports", "/submissions", "/submissions/1"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")
    name = person(keys.a)
    page = client.post("/login", data={"username": name, "password": "wrong password!", "next": "/send"})
    assert page.status_code == 401
    assert "wrong password" in page.text.lower() or "wachtwoord" in page.text.lower()
    assert 'aria-invalid="true"' in page.text  # the field is marked for screen readers
    assert "bbx_session" not in page.headers.get("set-cookie", "")
    # an API key is for a system: pasted as a password it is refused with a clear word
    page = client.post("/login", data={"username": name, "password": keys.a, "next": "/send"})
    assert page.status_code == 401 and keys.a not in page.text
    assert "API key" in page.text or "API-sleutel" in page.text
    # never redirect off-site after signing in
    response = client.post("/login", data={"username": name, "password": PASSWORD,
                                           "next": "https://evil.example/"}, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_manual_send_with_a_pdf_then_the_next_one(signed_in, configured):
    client = signed_in
    page = client.get("/send")
    assert page.status_code == 200
    assert 'label for="bsns"' in page.text and 'label for="pdf1"' in page.text
    assert "voorbeeld/WOZ2026" in page.text and "pf_metaal" not in page.text  # only own connections
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    targets = bsns(2, seed=51)
    letter = make_pdf("Uw WOZ-beschikking")
    data = form(client, message_type="voorbeeld/WOZ2026", text="Zie de bijlage.", reference="WOZ 2026",
                 bsns=f"{targets[0]}\n{targets[1]}")
    response = client.post("/send", data=data, files=[("pdfs", ("beschikking.pdf", io.BytesIO(letter),
                                                                "application/pdf"))], follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/send?done=")
    done = client.get(response.headers["location"])
    sid = int(re.search(r"Submission (\d+) accepted", done.text).group(1))
    assert 'id="done"' in done.text and "0 will be sent, 2 not subscribed" in done.text  # none in the register
    assert token(done.text) != data["token"]  # a fresh form for the next message
    assert 'value="voorbeeld/WOZ2026"\n' in done.text or 'selected>WOZ2026' in done.text.replace("\n", "")

    configured.rollback()
    sub = configured.execute("SELECT channel, external_ref, submitted_by, status, rows_handed_in FROM submissions"
                             " WHERE id = %s", (sid,)).fetchone()
    assert sub["channel"] == "manual" and sub["external_ref"] == data["token"] and sub["status"] == "accepted"
    assert sub["submitted_by"] == "user:tenant-gemeente-voorbeeld" and sub["rows_handed_in"] == 2
    rows = configured.execute(
        """SELECT m.bsn, m.text_encrypted, m.reference, a.file_name, a.content_encrypted FROM messages m
           JOIN message_attachments a ON a.message_id = m.id WHERE m.submission_id = %s ORDER BY m.row_number""",
        (sid,)).fetchall()
    assert [r["bsn"] for r in rows] == targets
    assert crypto.decrypt_text(rows[0]["text_encrypted"]) == "Zie de bijlage."
    assert crypto.decrypt(rows[1]["content_encrypted"]) == letter and rows[1]["file_name"] == "beschikking.pdf"
    files = configured.execute("SELECT file_name, role FROM submission_files WHERE submission_id = %s ORDER BY id",
                               (sid,)).fetchall()
    assert [(f["file_name"], f["role"]) for f in files] == [("request.json", "request"),
                                                             ("beschikking.pdf", "personal_attachment")]

    # the same form posted twice (a double click): still one submission
    again = client.post("/send", data=data, files=[("pdfs", ("beschikking.pdf", io.BytesIO(letter),
                                                             "application/pdf"))], follow_redirects=False)
    assert again.headers["location"] == response.headers["location"]
    configured.rollback()
    assert configured.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"] == 1


def test_manual_send_problems_are_shown_and_nothing_is_sent(signed_in, configured):
    client = signed_in
    data = form(client, message_type="voorbeeld/WOZ2026", bsns="123456789\n12345678x")
    page = client.post("/send", data=data, files=[("pdfs", ("brief.docx", io.BytesIO(b"PK\x03\x04"), "x"))])
    assert page.status_code == 422
    assert "Nothing was sent" in page.text and 'role="alert"' in page.text
    assert "BSN number 1" in page.text and "BSN number 2" in page.text
    assert 'id="bsns" name="bsns"' in page.text and 'aria-invalid="true"' in page.text
    assert "123456789\n12345678x" in page.text  # what was typed stays
    page = client.post("/send", data=form(client, message_type="voorbeeld/WOZ2026", bsns=bsns(1)[0]))
    assert "has no standard text" in page.text
    three = [("pdfs", (f"{n}.pdf", io.BytesIO(make_pdf(str(n))), "application/pdf")) for n in (1, 2, 3)]
    page = client.post("/send", data=form(client, message_type="voorbeeld/WOZ2026", bsns=bsns(1)[0]), files=three)
    assert "3 PDFs; at most 2 personal PDFs" in page.text
    page = client.post("/send", data=form(client, message_type="", bsns=bsns(1)[0]))
    assert "Choose a message type" in page.text
    page = client.post("/send", data=form(client, message_type="pf_metaal/UPO2026", bsns=bsns(1)[0]))
    assert "You have no connection 'pf_metaal'" in html.unescape(page.text)
    configured.rollback()
    assert configured.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"] == 0


def test_check_subscriptions_before_sending(signed_in, configured):
    client = signed_in
    people = bsns(2, seed=61)
    seed_register(configured, "voorbeeld", [(people[0], __import__("datetime").date(2025, 1, 1), None)])
    data = form(client, message_type="voorbeeld/PASPRT", bsns=", ".join(people), action="check")
    page = client.post("/send", data=data)
    assert page.status_code == 200
    table = page.text[page.text.index("Subscriptions of these BSNs"):]
    assert re.search(rf"{people[0]}</code></td>\s*<td>yes</td>", table)
    assert re.search(rf"{people[1]}</code></td>\s*<td>no: will not be sent</td>", table)
    # no Airflow Connection berichtenbox_voorbeeld here: the page says the quick check is unavailable
    assert "quick check at MijnOverheid is not available" in table
    configured.rollback()
    assert configured.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"] == 0


def test_forms_posted_from_another_site_are_refused(signed_in):
    data = form(signed_in, message_type="voorbeeld/PASPRT", bsns=bsns(1)[0])
    response = signed_in.post("/send", data=data, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and "another site" in response.text


def test_lookup_page(signed_in, keys, configured):
    client = signed_in
    target = bsns(1, seed=71)
    sid = send(client, keys.a, bsns=target).json()["id"]
    set_outcomes(configured, sid, {1: ("not_subscribed", "register", "not in the register on the send date")})
    page = client.get("/lookup")
    assert 'data-bsn-check="bsn-check"' in page.text
    result = client.post("/lookup", data={"bsn": target[0], "connection": ""})
    assert result.status_code == 200
    assert f"BSN {target[0]}" in result.text and "Never in the register" in result.text
    assert f'href="/submissions/{sid}"' in result.text and "not in the register on the send date" in result.text
    bad = client.post("/lookup", data={"bsn": "123", "connection": ""})
    assert bad.status_code == 422 and "Not a valid BSN" in bad.text


def test_reports_and_submission_pages(signed_in, keys, configured):
    client = signed_in
    sid = send(client, keys.a, bsns=bsns(3, seed=81)).json()["id"]
    set_outcomes(configured, sid, {1: ("delivered", "Verwerkt", None),
                                   2: ("failed", "BijlageTeGroot", "The attachments are too large")})
    page = client.get("/reports")
    assert page.status_code == 200
    assert page.text.count("<svg") >= 2 and 'role="img"' in page.text
    assert "BijlageTeGroot" in page.text and "/api/v1/connections/voorbeeld/reports/sent?" in page.text
    other = client.get("/reports", params={"connection": "pf_metaal"})
    assert "You have no connection" in other.text
    detail = client.get(f"/submissions/{sid}")
    assert detail.status_code == 200 and "request.json" in detail.text and "<svg" in detail.text
    log = client.get("/submissions")
    assert f'href="/submissions/{sid}"' in log.text
    # another tenant's submission is "not found", as on the API
    theirs = send(client, keys.b, "pf_metaal", message_type="UPO2026").json()["id"]
    assert client.get(f"/submissions/{theirs}").status_code == 404
    # the CSV links of the pages work with the page session (GET only)
    csv_link = client.get(f"/api/v1/submissions/{sid}/messages", params={"format": "csv"})
    assert csv_link.status_code == 200 and csv_link.text.startswith("row_number,bsn")
    refused = client.post("/api/v1/connections/voorbeeld/messages", json={}, headers={"Idempotency-Key": "x"})
    assert refused.status_code == 401  # sending through the API needs a key, not a cookie


def test_sign_out_ends_the_session(signed_in, configured):
    assert signed_in.get("/", follow_redirects=False).status_code == 200
    signed_in.post("/logout")
    assert signed_in.get("/", follow_redirects=False).status_code == 303
    configured.rollback()
    assert configured.execute("SELECT count(*) AS n FROM web_sessions").fetchone()["n"] == 0


def test_unknown_page_is_an_html_404(signed_in):
    response = signed_in.get("/no-such-page")
    assert response.status_code == 404 and "<h1>" in response.text


def test_operator_sees_every_tenant(client, keys):
    sign_in(client, keys.operator)
    page = client.get("/send")
    assert "pf_metaal/UPO2026" in page.text and "voorbeeld/PASPRT" in page.text
    assert "operator" in client.get("/").text
    assert client.get("/api/v1/connections", headers=auth(keys.operator)).status_code == 200


def test_pages_refuse_another_tenants_ids(signed_in, keys):
    client = signed_in
    theirs = send(client, keys.b, "pf_metaal", message_type="UPO2026", bsns=bsns(1, seed=3))
    sid = theirs.json()["id"]
    assert client.get(f"/submissions/{sid}").status_code == 404
    assert "You have no connection" in html.unescape(client.get("/submissions?connection=pf_metaal").text)
    assert "You have no connection" in html.unescape(client.get("/reports?connection=pf_metaal").text)
    found = client.post("/lookup", data={"bsn": bsns(1, seed=3)[0], "connection": "pf_metaal"})
    assert found.status_code == 404 and "You have no connection" in html.unescape(found.text)
    mine = client.post("/lookup", data={"bsn": bsns(1, seed=3)[0], "connection": ""})
    assert "Messages (0)" in mine.text and "pf_metaal" not in mine.text
    sent = client.post("/send", data=form(client, message_type="pf_metaal/UPO2026", bsns=bsns(1)[0]))
    assert sent.status_code == 404 and "You have no connection" in html.unescape(sent.text)


def test_the_pages_paper_list_is_the_sftp_undeliverable_list(signed_in, keys, configured):
    """Issue 10 item 2: "not delivered (for paper mail)" on the submission page left rejected
    rows in (e.g. a rejected duplicate of a citizen who got the letter digitally); it must
    be the one list every output uses: not subscribed and failed, never rejected."""
    from bbx.domain import delivery as rules
    from bbx.store import result_files as result_file_store

    client = signed_in
    targets = bsns(4, seed=83)
    sid = send(client, keys.a, bsns=targets).json()["id"]
    set_outcomes(configured, sid, {1: ("delivered", "Verwerkt", None),
                                   2: ("failed", "BijlageTeGroot", "The attachments are too large"),
                                   3: ("rejected", "duplicate", "the same BSN as row 1"),
                                   4: ("not_subscribed", "register", "not in the register on the send date")})
    detail = client.get(f"/submissions/{sid}")
    link = re.search(r'<a href="([^"]+)">not delivered \(for paper mail\)</a>', detail.text)
    assert link, detail.text
    paper = client.get(html.unescape(link.group(1)))
    assert paper.status_code == 200, paper.text
    on_page = [line.split(",")[:4] for line in paper.text.strip().splitlines()[1:]]
    assert [(r[0], r[1], r[3]) for r in on_page] == [("2", targets[1], "failed"), ("4", targets[3], "not_subscribed")]
    configured.rollback()
    sftp_list = b"".join(rules.undeliverable_rows(result_file_store.result_rows(configured, sid, undeliverable_only=True)))
    sftp_rows = [line.split(";")[:2] for line in sftp_list.decode("utf-8-sig").strip().splitlines()[1:]]
    assert [(bsn, row) for bsn, row in sftp_rows] == [(r[1], r[0]) for r in on_page]
    mixed = client.get(f"/api/v1/submissions/{sid}/messages",
                       params=[("undeliverable", "true"), ("outcome", "rejected")])
    assert mixed.status_code == 422
