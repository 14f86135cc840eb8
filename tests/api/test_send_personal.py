"""Personal letters through the web service (issue 18): a text, subject and reference per
citizen (``messages``) and their PDFs, as JSON or as a streamed multipart request, with
the row rules, idempotency and storage of every other send."""

from __future__ import annotations

import hashlib
import json
import uuid

from api_helpers import auth, bsns, make_pdf, upload

from bbx import crypto
from bbx.api import streamed

URL = "/api/v1/connections/voorbeeld/messages"


def _post(client, key, body: dict, files: list | None = None, idem: str | None = None):
    headers = {**auth(key), "Idempotency-Key": idem or str(uuid.uuid4())}
    if files is None:
        return client.post(URL, json=body, headers=headers)
    return client.post(URL, headers=headers, data={"request": json.dumps(body)}, files=files)


def _rows(db, submission_id: int) -> list[tuple]:
    db.rollback()
    rows = db.execute("SELECT row_number, bsn, subject, text_encrypted, reference, outcome FROM messages "
                      "WHERE submission_id = %s ORDER BY row_number", (submission_id,)).fetchall()
    return [(r["row_number"], r["bsn"], r["subject"], crypto.decrypt_text(r["text_encrypted"]), r["reference"],
             r["outcome"]) for r in rows]


def test_a_letter_per_citizen_as_json(client, keys, configured):
    a, b, c = bsns(3, seed=181)
    body = {"message_type": "PASPRT", "reference": "campagne", "messages": [
        {"bsn": a, "text": "Beste Jan,\nuw paspoort verloopt.", "subject": "Uw paspoort", "reference": "zaak-1"},
        {"bsn": f" {b[:3]}.{b[3:]} ", "text": "   "},  # empty text: the standard text, the request's reference
        {"bsn": c, "subject": "Herinnering"}]}
    response = _post(client, keys.a, body)
    assert response.status_code == 201, response.text
    sid = response.json()["id"]
    assert response.json()["rows_handed_in"] == 3
    assert _rows(configured, sid) == [
        (1, a, "Uw paspoort", "Beste Jan,\r\nuw paspoort verloopt.", "zaak-1", "planned"),
        (2, b, None, None, "campagne", "planned"),
        (3, c, "Herinnering", None, "campagne", "planned")]


def test_every_problem_of_every_message_with_its_position_and_nothing_is_created(client, keys, configured):
    a, b, c = bsns(3, seed=182)
    body = {"message_type": "WOZ2026", "messages": [  # WOZ2026 has no standard text
        {"bsn": a, "text": "ok"}, {"bsn": b, "subject": "twee\nregels", "text": "x" * 4001}, {"bsn": c}]}
    response = _post(client, keys.a, body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_messages" and error["field"] == "messages"
    assert "positions 2, 3" in error["message"]
    assert [(d["position"], d["field"], d["code"]) for d in error["details"]] == [
        (2, "text", "too_long"), (2, "subject", "invalid_character"), (3, "text", "required")]
    assert all(d["bsn"] != b and d["bsn"] != c for d in error["details"])  # masked
    assert "give a personal text or a personal PDF" in error["details"][2]["reason"]
    configured.rollback()
    assert configured.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"] == 0


def test_bsns_or_messages_not_both(client, keys, configured):
    a = bsns(1, seed=183)[0]
    for body in ({"message_type": "PASPRT", "bsns": [a], "messages": [{"bsn": a}]}, {"message_type": "PASPRT"}):
        response = _post(client, keys.a, body)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request", response.text


def test_letters_with_pdfs_streamed_stored_encrypted_and_idempotent(client, keys, configured):
    a, b = bsns(2, seed=184)
    pdf_a1, pdf_a2, pdf_b = make_pdf("brief a1"), make_pdf("brief a2", pages=2), make_pdf("brief b")
    body = {"message_type": "WOZ2026", "messages": [{"bsn": a, "text": "Uw aanslag", "reference": "A-1"},
                                                    {"bsn": b}]}  # b: the PDF alone is enough
    files = [upload(f"{a}_1.pdf", pdf_a1), upload(f"{a}_2.pdf", pdf_a2), upload(f"{b}_1.pdf", pdf_b)]
    response = _post(client, keys.a, body, files, idem="woz-personal-1")
    assert response.status_code == 201, response.text
    sid = response.json()["id"]
    assert [r[:5] for r in _rows(configured, sid)] == [(1, a, None, "Uw aanslag", "A-1"), (2, b, None, None, None)]
    stored = configured.execute(
        """SELECT m.bsn, a.position, a.size_bytes, a.sha256, a.content_encrypted FROM message_attachments a
           JOIN messages m ON m.id = a.message_id WHERE m.submission_id = %s ORDER BY m.row_number, a.position""",
        (sid,)).fetchall()
    assert [(r["bsn"], r["position"], r["size_bytes"]) for r in stored] == [
        (a, 1, len(pdf_a1)), (a, 2, len(pdf_a2)), (b, 1, len(pdf_b))]
    for row, pdf in zip(stored, (pdf_a1, pdf_a2, pdf_b), strict=True):
        assert crypto.decrypt(row["content_encrypted"]) == pdf
        assert row["sha256"] == hashlib.sha256(pdf).hexdigest()

    again = _post(client, keys.a, body, files, idem="woz-personal-1")
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true" and again.json()["id"] == sid
    changed = {**body, "messages": [{"bsn": a, "text": "Uw aanslag!"}, {"bsn": b}]}
    refused = _post(client, keys.a, changed, files, idem="woz-personal-1")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "idempotency_key_reused"


def test_a_pdf_too_large_for_any_message_is_refused_without_keeping_it(client, keys, configured):
    a = bsns(1, seed=185)[0]
    big = make_pdf(padding=600_000)
    response = _post(client, keys.a, {"message_type": "WOZ2026", "messages": [{"bsn": a}]},
                     [upload(f"{a}_1.pdf", big)])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_attachment"
    assert f"{-(-len(big) // 1000):,} kB" in error["message"] and "at most 500 kB" in error["message"]


def test_the_spool_keeps_pdfs_encrypted_on_disk():
    spool = streamed.Spool()
    pdf = make_pdf("geheim persoonlijk")
    first, second = spool.add("1_1.pdf", pdf, len(pdf)), spool.add("2_1.pdf", b"%PDF-1.4 broken", 15)
    spool._file.seek(0)
    on_disk = spool._file.read()
    assert b"geheim" not in on_disk and pdf[:100] not in on_disk
    assert first.read() == pdf and first.inspect().ok and first.sha256 == hashlib.sha256(pdf).hexdigest()
    assert not second.inspect().ok and second.read() == b"%PDF-1.4 broken"
    spool.close()


TEMPLATE = "Beste ((naam)),\nUw WOZ-waarde is ((waarde)).((bezwaar??\nWij behandelen uw bezwaar.))"


def _with_template(db, code: str = "WOZ2026") -> None:
    db.execute("UPDATE message_types SET standard_text = %s WHERE code = %s", (TEMPLATE, code))
    db.commit()


def test_a_template_standard_text_filled_per_citizen(client, keys, configured):
    _with_template(configured)
    a, b = bsns(2, seed=186)
    body = {"message_type": "WOZ2026", "messages": [
        {"bsn": a, "values": {"naam": "J. Jansen", "waarde": "€ 312.000", "bezwaar": "ja"}},
        {"bsn": b, "text": "Een eigen brief"}]}
    response = _post(client, keys.a, body)
    assert response.status_code == 201, response.text
    assert [r[3] for r in _rows(configured, response.json()["id"])] == [
        "Beste J. Jansen,\r\nUw WOZ-waarde is € 312.000.\r\nWij behandelen uw bezwaar.", "Een eigen brief"]


def test_template_problems_are_row_problems_naming_the_placeholder(client, keys, configured):
    _with_template(configured)
    a, b, c = bsns(3, seed=187)
    body = {"message_type": "WOZ2026", "messages": [
        {"bsn": a, "values": {"naam": "A", "waarde": "1"}},  # bezwaar missing
        {"bsn": b, "values": {"naam": "B", "waarde": "2", "bezwaar": "nee", "adres": "x"}},
        {"bsn": c, "values": {"naam": "x" * 4000, "waarde": "3", "bezwaar": "nee"}}]}
    response = _post(client, keys.a, body)
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert [(d["position"], d["field"], d["code"]) for d in details] == [
        (1, "values", "placeholder_missing"), (2, "values", "placeholder_unknown"), (3, "text", "too_long")]
    assert "((bezwaar))" in details[0]["reason"] and "((adres))" in details[1]["reason"]
    # one text for every BSN cannot fill a template: refused, not sent with "((naam))" in it
    response = _post(client, keys.a, {"message_type": "WOZ2026", "bsns": [a]})
    assert response.status_code == 422
    assert {e["code"] for e in response.json()["errors"]} == {"values_placeholder_missing"}
    configured.rollback()
    assert configured.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"] == 0


def test_a_dry_run_shows_the_filled_letter_and_hands_in_nothing(client, keys, configured):
    _with_template(configured)
    a, b = bsns(2, seed=188)
    body = {"message_type": "WOZ2026", "reference": "WOZ", "messages": [
        {"bsn": a, "text": "Eigen brief"},
        {"bsn": b, "subject": "Uw WOZ", "values": {"naam": "P. de Vries", "waarde": "€ 1", "bezwaar": "nee"}}]}
    pdf = make_pdf("bijlage")
    response = client.post("/api/v1/connections/voorbeeld/messages/preview?row=2", headers=auth(keys.a),
                           data={"request": json.dumps(body)}, files=[upload(f"{b}_1.pdf", pdf)])
    assert response.status_code == 200, response.text
    assert response.json() == {
        "rows": 2, "row_number": 2, "bsn": response.json()["bsn"], "subject": "Uw WOZ",
        "text": "Beste P. de Vries,\r\nUw WOZ-waarde is € 1.", "reference": "WOZ",
        "attachments": [f"{b}_1.pdf"], "rejection": None}
    assert response.json()["bsn"] != b and response.json()["bsn"].endswith(b[-3:])
    first = client.post("/api/v1/connections/voorbeeld/messages/preview", headers=auth(keys.a), json=body)
    assert first.json()["text"] == "Eigen brief" and first.json()["subject"] == "Uw WOZ-beschikking 2026"
    missing = client.post("/api/v1/connections/voorbeeld/messages/preview?row=3", headers=auth(keys.a), json=body)
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "row_not_found"
    bad = {**body, "messages": [{"bsn": a, "values": {"naam": "x"}}]}
    refused = client.post("/api/v1/connections/voorbeeld/messages/preview", headers=auth(keys.a), json=bad)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_messages"
    configured.rollback()
    assert configured.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"] == 0
    # a BSN already handed in: the preview says it would be rejected
    assert _post(client, keys.a, {"message_type": "WOZ2026", "messages": [{"bsn": a, "text": "eerder"}]}).status_code == 201
    again = client.post("/api/v1/connections/voorbeeld/messages/preview", headers=auth(keys.a), json=body)
    assert "already handed in for message type WOZ2026" in again.json()["rejection"]


def test_the_manual_page_fills_a_template_and_previews_the_letter(client, keys, configured):
    import html

    from api_helpers import form, sign_in

    _with_template(configured)
    a = bsns(1, seed=189)[0]
    sign_in(client, keys.a)
    values = "naam: J. Jansen\n((waarde)) = € 9\nbezwaar: ja"
    page = client.post("/send", data=form(client, message_type="voorbeeld/WOZ2026", bsns=a, values=values,
                                          action="preview"))
    assert page.status_code == 200, page.text
    shown = html.unescape(page.text)
    assert "Preview: the letter as it will be sent" in shown
    assert "Beste J. Jansen,\r\nUw WOZ-waarde is € 9.\r\nWij behandelen uw bezwaar." in shown
    configured.rollback()
    assert configured.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"] == 0
    missing = client.post("/send", data=form(client, message_type="voorbeeld/WOZ2026", bsns=a, values="naam: A"))
    assert missing.status_code == 422 and "((waarde))" in html.unescape(missing.text)
    sent = client.post("/send", data=form(client, message_type="voorbeeld/WOZ2026", bsns=a, values=values),
                       follow_redirects=False)
    assert sent.status_code == 303, sent.text
    configured.rollback()
    text = configured.execute("SELECT text_encrypted FROM messages").fetchone()["text_encrypted"]
    assert crypto.decrypt_text(text).startswith("Beste J. Jansen,")


def test_a_multipart_send_above_the_json_limit_is_read_streamed(client, keys, configured):
    from bbx.api.limits import MAX_REQUEST_BYTES

    people = bsns(24, seed=190)
    pdf = make_pdf(padding=460_000)
    files = [upload(f"{b}_1.pdf", pdf + f"% {b}\n".encode()) for b in people]
    assert len(pdf) * len(people) > MAX_REQUEST_BYTES
    response = _post(client, keys.a, {"message_type": "WOZ2026", "messages": [{"bsn": b} for b in people]}, files)
    assert response.status_code == 201, response.text[:500]
    assert response.json()["rows_handed_in"] == 24
    # spooled in several hand-overs to the worker thread, every PDF kept and recorded in order
    assert len(pdf) * len(people) > 2 * streamed.HAND_OVER_BYTES
    assert [(f["file_name"], f["role"]) for f in response.json()["files"]] == [
        ("request.json", "request"), *((f"{b}_1.pdf", "personal_attachment") for b in people)]
    configured.rollback()
    stored = configured.execute(
        """SELECT m.bsn, a.sha256 FROM message_attachments a JOIN messages m ON m.id = a.message_id
           WHERE m.submission_id = %s ORDER BY m.row_number""", (response.json()["id"],)).fetchall()
    assert [(r["bsn"], r["sha256"]) for r in stored] == [
        (b, hashlib.sha256(pdf + f"% {b}\n".encode()).hexdigest()) for b in people]
    # a JSON body keeps its 10 MB limit
    big = {"message_type": "WOZ2026", "messages": [{"bsn": b, "text": "x" * 4000} for b in bsns(2600, seed=191)]}
    refused = client.post(URL, content=json.dumps(big), headers={**auth(keys.a), "Idempotency-Key": "json-big",
                                                                "Content-Type": "application/json"})
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "request_too_large"


def test_the_checks_decrypt_each_spooled_pdf_once(client, keys, configured, monkeypatch):
    """A streamed request's PDFs wait encrypted in the spool: the checks (inspection at
    streaming, composition per message) and the hand-in (the token stored as it is) decrypt
    each PDF once, for the composition, and none twice."""
    decrypted: list[str] = []
    real = crypto.decrypt

    def counting(token):
        content = real(token)
        if content.startswith(b"%PDF"):
            decrypted.append(hashlib.sha256(content).hexdigest())
        return content

    monkeypatch.setattr(crypto, "decrypt", counting)
    a, b = bsns(2, seed=187)
    pdfs_sent = {f"{a}_1.pdf": make_pdf("a1"), f"{a}_2.pdf": make_pdf("a2", pages=2), f"{b}_1.pdf": make_pdf("b")}
    body = {"message_type": "WOZ2026", "messages": [{"bsn": a, "text": "Uw aanslag"}, {"bsn": b}]}
    response = _post(client, keys.a, body, [upload(n, c) for n, c in pdfs_sent.items()])
    assert response.status_code == 201, response.text
    assert sorted(decrypted) == sorted(hashlib.sha256(c).hexdigest() for c in pdfs_sent.values())
