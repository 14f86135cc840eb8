"""Submission status and per-row outcomes, BSN lookup, and the reports (JSON and CSV)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from api_helpers import auth, bsns, seed_register, send, set_outcomes

from bbx.api import service
from bbx.store import lookup, submissions

NOT_SUBSCRIBED_REASON = "not in the register on the send date"


def _csv(response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(response.text)))


def _submission_with_outcomes(client, keys, db, count: int = 5) -> tuple[int, list[str]]:
    targets = bsns(count, seed=21)
    sid = send(client, keys.a, bsns=targets).json()["id"]
    set_outcomes(db, sid, {
        1: ("delivered", "Verwerkt", None),
        2: ("not_subscribed", "register", NOT_SUBSCRIBED_REASON),
        3: ("failed", "BerichtTypeNietOndersteund", "MijnOverheid does not accept this message type"),
        4: ("sent", None, None),
    })
    return sid, targets


def test_status_counts_reconcile_as_outcomes_arrive(client, keys, configured):
    sid, _ = _submission_with_outcomes(client, keys, configured)
    status = client.get(f"/api/v1/submissions/{sid}", headers=auth(keys.a)).json()
    assert status["counts"] == {"planned": 1, "queued": 0, "sent": 1, "delivered": 1, "not_subscribed": 1,
                                "failed": 1, "rejected": 0, "cancelled": 0}
    assert status["final"] == 3 and status["reconciled"] is False
    assert "waiting: planned 1, sent 1" in status["reconciliation"]
    set_outcomes(configured, sid, {4: ("delivered", "Verwerkt", None), 5: ("delivered", "BerichtBestaatAl", None)})
    assert submissions.close_if_reconciled(configured, sid, actor="test")
    configured.commit()
    status = client.get(f"/api/v1/submissions/{sid}", headers=auth(keys.a)).json()
    assert status["reconciled"] is True and status["status"] == "closed" and status["closed_at"]
    assert status["reconciliation"].startswith("complete: rejected 0 + not subscribed 1 + delivered 3 + failed 1")


def test_rows_filter_page_and_csv(client, keys, configured):
    sid, targets = _submission_with_outcomes(client, keys, configured)
    url = f"/api/v1/submissions/{sid}/messages"
    page = client.get(url, headers=auth(keys.a), params={"limit": 2}).json()
    assert [r["row_number"] for r in page["rows"]] == [1, 2] and page["next_after_row"] == 2
    rest = client.get(url, headers=auth(keys.a), params={"after_row": 2, "limit": 10}).json()
    assert [r["row_number"] for r in rest["rows"]] == [3, 4, 5] and rest["next_after_row"] is None
    first = page["rows"][0]
    assert first["bsn"] == targets[0] and first["outcome"] == "delivered" and first["outcome_code"] == "Verwerkt"
    assert first["sent_at"] and first["final_at"] and len(first["message_id"]) == 36
    paper = client.get(url, headers=auth(keys.a),
                       params=[("outcome", "not_subscribed"), ("outcome", "failed"), ("format", "csv")])
    lines = _csv(paper)
    assert [(r["row_number"], r["bsn"], r["outcome"]) for r in lines] == [
        ("2", targets[1], "not_subscribed"), ("3", targets[2], "failed")]
    assert lines[1]["outcome_reason"] == "MijnOverheid does not accept this message type"
    everything = _csv(client.get(url, headers=auth(keys.a), params={"format": "csv"}))  # streamed, all rows
    assert [r["row_number"] for r in everything] == ["1", "2", "3", "4", "5"]
    configured.rollback()
    chunked = list(lookup.iter_submission_rows(configured, sid, after_row=1, chunk=2))
    assert [r["row_number"] for r in chunked] == [2, 3, 4, 5]
    bad = client.get(url, headers=auth(keys.a), params={"outcome": "lost"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"


def test_bsn_lookup_shows_register_periods_and_every_message(client, keys, configured):
    sid, targets = _submission_with_outcomes(client, keys, configured)
    bsn = targets[1]  # not_subscribed in the first submission
    seed_register(configured, "voorbeeld", [(bsn, date(2024, 3, 1), date(2025, 1, 10)),
                                            (bsn, date(2025, 6, 1), None)])
    second = send(client, keys.a, message_type="WOZ2026", bsns=[bsn], text="WOZ").json()["id"]
    response = client.post("/api/v1/bsn-lookup", json={"bsn": bsn}, headers=auth(keys.a))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["bsn"] == bsn and result["on"] == service.today().isoformat()
    [voorbeeld] = result["connections"]
    assert voorbeeld["subscribed"] is True
    assert [(p["begin_date"], p["end_date"]) for p in voorbeeld["periods"]] == [
        ("2024-03-01", "2025-01-10"), ("2025-06-01", None)]
    messages = voorbeeld["messages"]
    assert [m["submission_id"] for m in messages] == [second, sid]  # newest first
    assert messages[0]["outcome"] == "planned" and messages[0]["message_type"] == "WOZ2026"
    assert messages[1]["outcome"] == "not_subscribed" and messages[1]["outcome_reason"] == NOT_SUBSCRIBED_REASON
    assert messages[1]["subject"] == "Uw paspoort verloopt binnenkort"
    configured.rollback()
    audit = configured.execute("SELECT actor, details FROM audit_log WHERE action = 'bsn.lookup'").fetchone()
    assert audit["actor"] == f"api-key:{keys.a_prefix}"
    assert audit["details"]["bsn"] == "******" + bsn[-3:] and bsn not in str(audit)
    # a BSN nobody ever sent to: not subscribed, no periods, no messages
    other = client.post("/api/v1/bsn-lookup", json={"bsn": bsns(1, seed=99)[0]}, headers=auth(keys.a)).json()
    assert other["connections"][0] == {**other["connections"][0], "subscribed": False, "periods": [],
                                       "messages": []}


def test_bsn_lookup_errors(client, keys):
    for body, code in (({"bsn": "123456789"}, "invalid_bsn"), ({"bsn": "12a"}, "invalid_bsn"),
                       ({}, "invalid_request"), ({"bsn": bsns(1)[0], "connections": ["nope"]}, "connection_not_found")):
        response = client.post("/api/v1/bsn-lookup", json=body, headers=auth(keys.a))
        assert response.json()["error"]["code"] == code, body
        assert response.status_code == (404 if code == "connection_not_found" else 422)


def test_sent_and_undelivered_reports(client, keys, configured):
    _submission_with_outcomes(client, keys, configured)
    rejected = bsns(2, seed=31)
    sid = send(client, keys.a, message_type="WOZ2026", bsns=rejected, text="x").json()["id"]
    configured.execute(
        "UPDATE messages SET outcome = 'rejected', outcome_code = 'validation', outcome_reason = 'too late',"
        " final_at = now() WHERE submission_id = %s", (sid,))
    configured.commit()
    today = service.today()
    params = {"from": (today - timedelta(days=3)).isoformat(), "to": today.isoformat()}
    sent = client.get("/api/v1/connections/voorbeeld/reports/sent", params=params, headers=auth(keys.a)).json()
    assert sent["message_types"] == [{"message_type": "PASPRT", "name": "Paspoort verloopt", "sent": 3,
                                      "delivered": 1, "not_subscribed": 0, "failed": 1, "awaiting_result": 1}]
    undelivered = client.get("/api/v1/connections/voorbeeld/reports/undelivered", params=params,
                             headers=auth(keys.a)).json()
    assert [(r["message_type"], r["outcome"], r["code"], r["messages"]) for r in undelivered["rows"]] == [
        ("PASPRT", "failed", "BerichtTypeNietOndersteund", 1),
        ("PASPRT", "not_subscribed", "register", 1),
        ("WOZ2026", "rejected", "validation", 2),
    ]
    lines = _csv(client.get("/api/v1/connections/voorbeeld/reports/undelivered",
                            params={**params, "format": "csv"}, headers=auth(keys.a)))
    assert lines[2] == {"message_type": "WOZ2026", "name": "WOZ-beschikking 2026", "outcome": "rejected",
                        "code": "validation", "reason": "too late", "messages": "2"}
    # a period in the past holds nothing
    old = {"from": "2020-01-01", "to": "2020-01-31"}
    assert client.get("/api/v1/connections/voorbeeld/reports/sent", params=old,
                      headers=auth(keys.a)).json()["message_types"] == []


def test_register_reports(client, keys, configured):
    people = bsns(4, seed=41)
    seed_register(configured, "voorbeeld", [
        (people[0], date(2026, 1, 5), None),
        (people[1], date(2026, 1, 20), date(2026, 2, 3)),
        (people[2], date(2025, 5, 1), date(2026, 1, 15)),
        (people[3], date(2026, 2, 10), None),
    ])
    url = "/api/v1/connections/voorbeeld/reports"
    on = client.get(f"{url}/subscribed", params={"on": "2026-01-21"}, headers=auth(keys.a)).json()
    assert on == {"connection": "voorbeeld", "on": "2026-01-21", "count": 2, "bsns": None}
    with_bsns = client.get(f"{url}/subscribed", params={"on": "2026-01-10", "with_bsns": "true"},
                           headers=auth(keys.a)).json()
    assert with_bsns["count"] == 2 and with_bsns["bsns"] == sorted([people[0], people[2]])
    lines = _csv(client.get(f"{url}/subscribed", params={"on": "2026-01-10", "with_bsns": "true", "format": "csv"},
                            headers=auth(keys.a)))
    assert [(r["bsn"], r["begin_date"]) for r in lines] == sorted([(people[0], "2026-01-05"),
                                                                   (people[2], "2025-05-01")])
    changes = client.get(f"{url}/register-changes", params={"from": "2026-01-01", "to": "2026-01-31",
                                                            "with_bsns": "true"}, headers=auth(keys.a)).json()
    assert (changes["signups"], changes["signoffs"]) == (2, 1)
    assert changes["signup_bsns"] == sorted(people[:2]) and changes["signoff_bsns"] == [people[2]]


def test_submission_log_with_file_hashes(client, keys, configured):
    first = send(client, keys.a, idem="log-1").json()
    second = send(client, keys.a, idem="log-2", message_type="WOZ2026", text="t").json()
    log = client.get("/api/v1/submissions", headers=auth(keys.a)).json()
    assert [s["id"] for s in log["submissions"]] == [second["id"], first["id"]]
    entry = log["submissions"][1]
    assert entry["channel"] == "api" and entry["external_ref"] == "log-1" and entry["counts"] == {"planned": 3}
    assert entry["files"][0]["sha256"] == first["files"][0]["sha256"]
    lines = _csv(client.get("/api/v1/submissions", params={"format": "csv", "connection": "voorbeeld"},
                            headers=auth(keys.a)))
    assert [(r["id"], r["file_name"], r["file_sha256"]) for r in lines] == [
        (str(second["id"]), "request.json", second["files"][0]["sha256"]),
        (str(first["id"]), "request.json", first["files"][0]["sha256"])]
    assert lines[1]["open"] == "3" and lines[1]["channel"] == "api"


def test_period_errors(client, keys):
    url = "/api/v1/connections/voorbeeld/reports/sent"
    for params, code in (({"from": "2026-02-01", "to": "2026-01-01"}, "invalid_period"),
                         ({"from": "2024-01-01", "to": "2026-01-01"}, "period_too_long"),
                         ({"from": "1-2-2026"}, "invalid_request"),
                         ({"format": "xml"}, "invalid_request")):
        response = client.get(url, params=params, headers=auth(keys.a))
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == code, params
    response = client.get("/api/v1/submissions", params={"from": "2026-02-01", "to": "2026-01-01"},
                          headers=auth(keys.a))
    assert response.json()["error"]["code"] == "invalid_period"


def test_connections_describe_message_types(client, keys):
    [conn] = client.get("/api/v1/connections", headers=auth(keys.a)).json()["connections"]
    types = {t["code"]: t for t in conn["message_types"]}
    assert types["PASPRT"]["has_standard_text"] is True
    assert [a["code"] for a in types["PASPRT"]["standard_attachments"]] == ["folder-paspoort", "privacy"]
    assert types["WOZ2026"]["has_standard_text"] is False and types["WOZ2026"]["standard_text"] is None
    assert client.get("/api/v1/health").json()["status"] == "ok"
