"""Sending through the web service: a submission per request, idempotency, every error."""

from __future__ import annotations

import hashlib
import threading
import uuid

import pytest
from api_helpers import auth, bsns, make_pdf, send, upload

from bbx import crypto
from bbx.api.limits import MAX_BSNS_PER_CALL, MAX_REQUEST_BYTES
from bbx.domain import ids


def _count(db, table: str) -> int:
    db.rollback()  # see what the app committed
    return db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def _assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    assert len(body["error"]["message"]) > 20  # a sentence for people
    return body["error"]


def test_send_creates_an_accepted_submission(client, keys, configured):
    db = configured
    targets = bsns(3)
    response = send(client, keys.a, idem="order-1", bsns=[targets[0], f" {targets[1]} ", targets[2]],
                    reference="campagne mei")
    assert response.status_code == 201, response.text
    status = response.json()
    sid = status["id"]
    assert response.headers["location"] == f"/api/v1/submissions/{sid}"
    assert status["status"] == "accepted" and status["channel"] == "api"
    assert status["external_ref"] == "order-1" and status["submitted_by"] == f"api-key:{keys.a_prefix}"
    assert status["rows_handed_in"] == 3 and status["counts"]["planned"] == 3
    assert status["reconciled"] is False and "in progress" in status["reconciliation"]
    [request_file] = status["files"]
    assert request_file["file_name"] == "request.json" and request_file["role"] == "request"

    db.rollback()
    rows = db.execute("SELECT row_number, bsn, message_id::text AS mid, outcome, text_encrypted, reference, "
                      "message_type_id FROM messages WHERE submission_id = %s ORDER BY row_number", (sid,)).fetchall()
    assert [r["bsn"] for r in rows] == targets
    assert [r["mid"] for r in rows] == [ids.message_id("voorbeeld", sid, b) for b in targets]
    assert {r["outcome"] for r in rows} == {"planned"}
    assert all(r["text_encrypted"] is None for r in rows)  # the standard text is used
    assert {r["reference"] for r in rows} == {"campagne mei"}
    audit = [r["action"] for r in db.execute("SELECT action FROM audit_log WHERE submission_id = %s ORDER BY id",
                                            (sid,))]
    assert audit == ["submission.received", "submission.accepted"]


def test_given_text_is_stored_encrypted_and_8_digit_bsn_repaired(client, keys, configured):
    from bbx.domain import bsn as bsn_rules

    eight = next(bsn_rules.generate(1, seed=0, start=12_000_000))[1:]  # an old number: 0 + 8 digits
    response = send(client, keys.a, message_type="WOZ2026", bsns=[eight], text="Uw WOZ-waarde is €\n312.000.")
    assert response.status_code == 201, response.text
    configured.rollback()
    row = configured.execute("SELECT bsn, text_encrypted FROM messages WHERE submission_id = %s",
                             (response.json()["id"],)).fetchone()
    assert row["bsn"] == "0" + eight
    assert b"312.000" not in bytes(row["text_encrypted"])
    # stored as every channel stores it (an SFTP drop too): line breaks as CR LF
    assert crypto.decrypt_text(row["text_encrypted"]) == "Uw WOZ-waarde is €\r\n312.000."


def test_same_idempotency_key_creates_one_submission(client, keys, configured):
    body = {"message_type": "PASPRT", "bsns": bsns(4)}
    first = send(client, keys.a, idem="same-key", **body)
    again = send(client, keys.a, idem="same-key", **body)
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert _count(configured, "submissions") == 1 and _count(configured, "messages") == 4
    different = send(client, keys.a, idem="same-key", message_type="PASPRT", bsns=bsns(5))
    error = _assert_error(different, 409, "idempotency_key_reused")
    assert error["details"] == [{"submission_id": first.json()["id"]}]
    assert _count(configured, "submissions") == 1
    # keys are per connection: another tenant's identical key is its own hand-in
    assert send(client, keys.b, "pf_metaal", idem="same-key", message_type="UPO2026").status_code == 201


def test_concurrent_retries_with_one_key_create_one_submission(client, keys, configured):
    body = {"message_type": "PASPRT", "bsns": bsns(300)}
    results = []

    def post():
        results.append(send(client, keys.a, idem="race", **body))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in results}) == 1
    assert _count(configured, "submissions") == 1 and _count(configured, "messages") == 300


def test_invalid_bsns_refuse_the_whole_request_with_each_position(client, keys, configured):
    good = bsns(3)
    response = send(client, keys.a, bsns=[good[0], "12345678x", good[1], "123456789", good[0], "", "1234"])
    error = _assert_error(response, 422, "invalid_bsns")
    assert error["field"] == "bsns"
    details = {d["position"]: d for d in error["details"]}
    assert sorted(details) == [2, 4, 5, 6, 7]
    assert details[2]["reason"] == "BSN must contain digits only"
    assert "11-test" in details[4]["reason"]
    assert details[5]["reason"].startswith("the same BSN as position 1")
    assert details[5]["value"] == "******" + good[0][-3:]  # masked, never echoed in full
    assert details[6]["reason"] == "BSN is empty"
    assert details[7]["reason"] == "BSN must have 9 digits, found 4"
    assert "positions 2, 4, 5, 6, 7" in error["message"] and "nothing was sent" in error["message"]
    assert _count(configured, "submissions") == 0 and _count(configured, "messages") == 0


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"message_type": "NOPE"}, 422, "unknown_message_type", "message_type"),
    ({"bsns": []}, 422, "bsns_empty", "bsns"),
    ({"message_type": "WOZ2026"}, 422, "text_required", "text"),
    ({"text": "   "}, 422, "text_empty", "text"),
    ({"text": "x" * 4001}, 422, "text_too_long", "text"),
    ({"text": "regel\n" * 571 + "abcd"}, 422, "text_too_long", "text"),  # 3430 chars, 4001 with CR LF
    ({"text": "bel \x07 ons"}, 422, "text_invalid_character", "text"),
    ({"reference": "r" * 26}, 422, "reference_too_long", "reference"),
    ({"reference": "ref\x01"}, 422, "reference_invalid_character", "reference"),
    # refused by SFTP intake, once accepted here and sent: the stricter rule of every channel
    ({"reference": "ref\nnext"}, 422, "reference_invalid_character", "reference"),
    ({"reference": "ref\x7f"}, 422, "reference_invalid_character", "reference"),
    ({"reference": "ref\x85x"}, 422, "reference_invalid_character", "reference"),  # U+0085 inside (at the end: stripped)
    ({"text": "bel \x7f ons"}, 422, "text_invalid_character", "text"),
    ({"bsns": [249566758]}, 422, "invalid_request", None),  # numbers lose leading zeros: strings only
    ({"bsn": "249566758"}, 422, "invalid_request", None),  # unknown field (a typo) is refused
])
def test_each_bad_request_has_its_code(client, keys, configured, body, status, code, field):
    error = _assert_error(send(client, keys.a, **body), status, code)
    assert error.get("field") == field
    assert _count(configured, "submissions") == 0


def test_text_of_exactly_4000_characters_with_line_breaks_is_accepted(client, keys):
    text = "regel\n" * 571 + "abc"  # 571 * 7 + 3 = 4000 after CR LF
    assert send(client, keys.a, text=text).status_code == 201


def test_several_problems_are_listed_together(client, keys):
    response = send(client, keys.a, text="x" * 5000, reference="r" * 30, bsns=["1"])
    body = response.json()
    assert response.status_code == 422
    assert [e["code"] for e in body["errors"]] == ["text_too_long", "reference_too_long", "invalid_bsns"]
    assert body["error"]["code"] == "text_too_long"


def test_too_many_bsns(client, keys, configured):
    many = list(bsns(MAX_BSNS_PER_CALL + 1, seed=2))
    error = _assert_error(send(client, keys.a, bsns=many), 422, "too_many_bsns")
    assert f"{MAX_BSNS_PER_CALL:,}" in error["message"]
    assert _count(configured, "submissions") == 0


def test_the_maximum_number_of_bsns_is_accepted(client, keys, configured):
    response = send(client, keys.a, bsns=list(bsns(MAX_BSNS_PER_CALL, seed=4)))
    assert response.status_code == 201, response.text[:500]
    assert response.json()["counts"]["planned"] == MAX_BSNS_PER_CALL


def test_request_size_limit(client, keys, configured):
    headers = {**auth(keys.a), "Idempotency-Key": "big", "Content-Type": "application/json"}
    big = b'{"message_type": "PASPRT", "bsns": [], "text": "' + b"x" * MAX_REQUEST_BYTES + b'"}'
    _assert_error(client.post("/api/v1/connections/voorbeeld/messages", content=big, headers=headers),
           413, "request_too_large")

    def chunks():  # no Content-Length: counted while streaming
        yield big[: len(big) // 2]
        yield big[len(big) // 2:]

    _assert_error(client.post("/api/v1/connections/voorbeeld/messages", content=chunks(), headers=headers),
           413, "request_too_large")
    assert _count(configured, "submissions") == 0


def test_header_body_and_media_type_errors(client, keys):
    url = "/api/v1/connections/voorbeeld/messages"
    body = {"message_type": "PASPRT", "bsns": bsns(1)}
    _assert_error(client.post(url, json=body, headers=auth(keys.a)), 400, "idempotency_key_missing")
    _assert_error(client.post(url, json=body, headers={**auth(keys.a), "Idempotency-Key": "has space"}),
           400, "idempotency_key_invalid")
    _assert_error(client.post(url, json=body, headers={**auth(keys.a), "Idempotency-Key": "k" * 101}),
           400, "idempotency_key_invalid")
    headers = {**auth(keys.a), "Idempotency-Key": "k1"}
    _assert_error(client.post(url, content=b"{not json", headers={**headers, "Content-Type": "application/json"}),
           400, "invalid_json")
    _assert_error(client.post(url, content=b"bsn=1", headers={**headers, "Content-Type": "text/plain"}),
           415, "unsupported_media_type")
    _assert_error(client.post(url, json=["a list"], headers=headers), 422, "invalid_request")
    _assert_error(client.post("/api/v1/connections/nope/messages", json=body, headers=headers), 404,
           "connection_not_found")


def test_inactive_message_type_and_connection(client, keys, configured):
    configured.execute("UPDATE message_types SET active = false WHERE code = 'WOZ2026'")
    configured.commit()
    _assert_error(send(client, keys.a, message_type="WOZ2026", text="t"), 422, "message_type_inactive")
    configured.execute("UPDATE connections SET active = false WHERE code = 'voorbeeld'")
    configured.commit()
    _assert_error(send(client, keys.a), 409, "connection_inactive")
    assert _count(configured, "submissions") == 0


def test_unknown_paths_and_methods(client, keys):
    _assert_error(client.get("/api/v1/nothing-here", headers=auth(keys.a)), 404, "not_found")
    _assert_error(client.delete("/api/v1/connections/voorbeeld", headers=auth(keys.a)), 405, "method_not_allowed")
    _assert_error(client.get("/api/v1/submissions/abc", headers=auth(keys.a)), 422, "invalid_request")


# --------------------------------------------------------------------------- personal PDFs


def _multipart(client, key, body: dict, files: list, idem: str | None = None):
    import json

    headers = {**auth(key), "Idempotency-Key": idem or str(uuid.uuid4())}
    return client.post("/api/v1/connections/voorbeeld/messages", headers=headers,
                       data={"request": json.dumps(body)}, files=files)


def test_personal_pdfs_through_multipart(client, keys, configured):
    targets = bsns(3)
    letter_1, letter_2, other = make_pdf("brief 1"), make_pdf("brief 2"), make_pdf("ander")
    response = _multipart(client, keys.a, {"message_type": "WOZ2026", "bsns": targets}, [
        upload(f"{targets[0]}_1.pdf", letter_1), upload(f"{targets[0]}_2.PDF", letter_2),
        upload(f"{targets[1]}_2.pdf", other),
    ])
    assert response.status_code == 201, response.text
    sid = response.json()["id"]
    files = {f["file_name"]: f for f in response.json()["files"]}
    assert files[f"{targets[0]}_1.pdf"]["sha256"] == hashlib.sha256(letter_1).hexdigest()
    assert files[f"{targets[0]}_1.pdf"]["role"] == "personal_attachment"
    configured.rollback()
    stored = configured.execute(
        """SELECT m.bsn, a.position, a.file_name, a.sha256, a.content_encrypted FROM message_attachments a
           JOIN messages m ON m.id = a.message_id WHERE m.submission_id = %s ORDER BY m.row_number, a.position""",
        (sid,)).fetchall()
    assert [(r["bsn"], r["position"], r["file_name"]) for r in stored] == [
        (targets[0], 1, f"{targets[0]}_1.pdf"), (targets[0], 2, f"{targets[0]}_2.PDF"),
        (targets[1], 1, f"{targets[1]}_2.pdf")]
    assert crypto.decrypt(stored[0]["content_encrypted"]) == letter_1
    assert letter_1[:200] not in bytes(stored[0]["content_encrypted"])
    # the third BSN has neither text nor PDF: WOZ2026 has no standard text ... but the request had PDFs,
    # so text may be left out; BBX sends what there is (the message type's subject).
    counts = response.json()["counts"]
    assert counts["planned"] == 3


def test_pdf_problems(client, keys, configured):
    targets = bsns(2)
    body = {"message_type": "PASPRT", "bsns": targets}
    error = _assert_error(_multipart(client, keys.a, body, [upload(f"{targets[0]}_1.pdf", b"PK\x03\x04 word file")]),
                   422, "invalid_attachment")
    assert "ZIP archive" in error["message"]
    error = _assert_error(_multipart(client, keys.a, body, [
        upload("brief.pdf", make_pdf()), upload(f"{bsns(5)[4]}_1.pdf", make_pdf()),
        upload(f"{targets[0]}_1.pdf", make_pdf()), upload(f"{targets[0]}_1.pdf", make_pdf("b"))]),
        422, "attachment_unmatched")
    assert [d["file_name"] for d in error["details"]] == ["brief.pdf", f"{bsns(5)[4]}_1.pdf", f"{targets[0]}_1.pdf"]
    big = make_pdf(padding=499_000 - len(make_pdf()))  # under 500 kB alone; too large with PASPRT's 2 standard PDFs
    assert len(big) < 500_000
    error = _assert_error(_multipart(client, keys.a, body, [upload(f"{targets[1]}_1.pdf", big)]),
                   422, "attachments_too_large")
    assert "500 kB" in error["message"] and error["details"][0]["bsn"].endswith(targets[1][-3:])
    error = _assert_error(_multipart(client, keys.a, {"bsns": targets}, [upload(f"{targets[0]}_1.pdf", make_pdf())]),
                   422, "invalid_request")
    response = client.post("/api/v1/connections/voorbeeld/messages",
                           headers={**auth(keys.a), "Idempotency-Key": "m"},
                           files=[upload(f"{targets[0]}_1.pdf", make_pdf())])
    _assert_error(response, 422, "invalid_request")
    assert _count(configured, "submissions") == 0


def test_openapi_describes_the_api(client):
    spec = client.get("/api/v1/openapi.json").json()
    send_op = spec["paths"]["/api/v1/connections/{connection}/messages"]["post"]
    assert set(send_op["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert any(p["name"] == "Idempotency-Key" for p in send_op["parameters"])
    assert "ErrorBody" in spec["components"]["schemas"]
    assert spec["info"]["version"] == "1"
    assert client.get("/api/v1/docs").status_code == 200


def test_a_bsn_already_handed_in_for_the_message_type_is_not_sent_again(client, keys, configured):
    people = bsns(4, seed=13)
    first = send(client, keys.a, bsns=people[:2]).json()
    second = send(client, keys.a, bsns=people[1:]).json()  # overlaps on people[1]
    assert second["counts"] == {**second["counts"], "planned": 2, "rejected": 1}
    rows = client.get(f"/api/v1/submissions/{second['id']}/messages", headers=auth(keys.a)).json()["rows"]
    rejected = [r for r in rows if r["outcome"] == "rejected"]
    assert [(r["row_number"], r["bsn"]) for r in rejected] == [(1, people[1])]
    assert rejected[0]["outcome_reason"].startswith(
        f"already handed in for message type PASPRT in submission {first['id']} of ")
    assert rejected[0]["outcome_code"] == "validation"
    # another message type is another letter: allowed
    assert send(client, keys.a, message_type="WOZ2026", text="t", bsns=people[:1]).json()["counts"]["rejected"] == 0


def test_a_broken_multipart_body_is_a_clear_400(client, keys):
    headers = {**auth(keys.a), "Idempotency-Key": "mp", "Content-Type": "multipart/form-data; boundary=xyz"}
    response = client.post("/api/v1/connections/voorbeeld/messages", headers=headers,
                           content=b"--xyz\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--xyz--\r\n")
    error = _assert_error(response, 400, "bad_request")
    assert error["message"] == 'The Content-Disposition header field "name" must be provided.'
