"""Personal content leaves the database after the retention period (issue 10 item 4).

Real parts: PostgreSQL, the web service (to hand in texts and PDFs), the pages. The
clock is moved by passing ``now`` — nobody waits 90 days."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

from api_helpers import auth, bsns, make_pdf, send, set_outcomes, sign_in, upload

from bbx.delivery import build
from bbx.store import db as store_db
from bbx.store import retention, submissions


def _hand_in(client, key, targets, pdf: bytes) -> int:
    headers = {**auth(key), "Idempotency-Key": str(uuid.uuid4())}
    body = {"message_type": "WOZ2026", "bsns": targets, "text": "Uw WOZ-beschikking, persoonlijk"}
    response = client.post("/api/v1/connections/voorbeeld/messages", headers=headers,
                           data={"request": json.dumps(body)}, files=[upload(f"{targets[0]}_1.pdf", pdf)])
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _content(db, sid: int) -> list[dict]:
    db.rollback()
    return db.execute(
        """SELECT m.row_number, m.bsn, m.message_id, m.outcome, m.outcome_code, m.text_encrypted, m.purged_at,
                  a.file_name, a.sha256, a.size_bytes, a.content_encrypted
           FROM messages m LEFT JOIN message_attachments a ON a.message_id = m.id
           WHERE m.submission_id = %s ORDER BY m.row_number""", (sid,)).fetchall()


def test_content_of_closed_submissions_is_purged_after_retention(client, keys, configured):
    db = configured
    targets = bsns(2, seed=31)
    pdf = make_pdf("persoonlijke beschikking")
    closed = _hand_in(client, keys.a, targets, pdf)
    set_outcomes(db, closed, {1: ("delivered", "Verwerkt", None), 2: ("failed", "X", "failed for a test")})
    assert submissions.close_if_reconciled(db, closed, actor="test")
    db.commit()
    still_open = _hand_in(client, keys.a, bsns(1, seed=32), make_pdf("open"))
    before = _content(db, closed)
    assert all(r["text_encrypted"] is not None for r in before) and before[0]["content_encrypted"] is not None
    retention_days = db.execute("SELECT retention_days FROM connections WHERE code = 'voorbeeld'").fetchone()["retention_days"]
    closed_at = db.execute("SELECT closed_at FROM submissions WHERE id = %s", (closed,)).fetchone()["closed_at"]

    # one day before the end of the retention period: nothing happens
    early = retention.purge_expired_content(store_db.connect, now=closed_at + timedelta(days=retention_days - 1))
    assert early == {"submissions": 0, "messages": 0, "texts": 0, "attachments": 0}
    assert _content(db, closed) == before

    later = closed_at + timedelta(days=retention_days, minutes=1)
    summary = retention.purge_expired_content(store_db.connect, now=later)
    assert summary == {"submissions": 1, "messages": 2, "texts": 2, "attachments": 1}
    after = _content(db, closed)
    assert all(r["text_encrypted"] is None and r["purged_at"] == later for r in after)
    assert after[0]["content_encrypted"] is None
    # metadata, hashes and outcomes stay
    keep = ("row_number", "bsn", "message_id", "outcome", "outcome_code", "file_name", "sha256", "size_bytes")
    assert [{k: r[k] for k in keep} for r in after] == [{k: r[k] for k in keep} for r in before]
    assert after[0]["sha256"] == hashlib.sha256(pdf).hexdigest()
    # a submission still being delivered keeps its content, however old
    assert all(r["text_encrypted"] is not None and r["purged_at"] is None for r in _content(db, still_open))
    # one audit entry per run, counts only (no BSN)
    audits = db.execute("SELECT actor, details FROM audit_log WHERE action = 'content.purged' ORDER BY id").fetchall()
    assert [a["details"]["messages"] for a in audits] == [0, 2]
    assert audits[1]["actor"] == "bbx:retention" and not any(t in json.dumps(audits[1]["details"]) for t in targets)
    # a second run finds nothing more
    assert retention.purge_expired_content(store_db.connect, now=later)["submissions"] == 0

    # lookups say so: the API ...
    looked_up = client.post("/api/v1/bsn-lookup", json={"bsn": targets[0]}, headers=auth(keys.a)).json()
    [message] = looked_up["connections"][0]["messages"]
    assert message["purged_at"] and datetime.fromisoformat(message["purged_at"]) == later
    rows = client.get(f"/api/v1/submissions/{closed}/messages", headers=auth(keys.a)).json()["rows"]
    assert all(r["purged_at"] for r in rows)
    # ... and the pages
    sign_in(client, keys.a)
    page = client.post("/lookup", data={"bsn": targets[0], "connection": ""})
    assert page.status_code == 200 and "content purged on" in page.text
    assert "content purged on" in client.get(f"/submissions/{closed}").text
    assert "content purged on" not in client.get(f"/submissions/{still_open}").text


def test_a_purged_message_is_never_sent_with_the_standard_text_instead(client, keys, configured):
    """Redelivery of a purged failed message (PASPRT has a standard text, the message had
    its own): taken out of the batch with a reason, not sent with the standard text."""
    db = configured
    response = send(client, keys.a, message_type="PASPRT", bsns=bsns(1, seed=33), text="Persoonlijk bericht")
    assert response.status_code == 201, response.text
    sid = response.json()["id"]
    set_outcomes(db, sid, {1: ("failed", "X", "failed for a test")})
    with db.transaction():  # not finished yet: nothing is purged
        assert retention.purge_submission(db, sid, datetime.now(UTC))["messages"] == 0
    assert submissions.close_if_reconciled(db, sid, actor="test")
    db.commit()
    with db.transaction():
        assert retention.purge_submission(db, sid, datetime.now(UTC))["messages"] == 1
    batch = db.execute("SELECT batch_id FROM messages WHERE submission_id = %s", (sid,)).fetchone()["batch_id"]
    # as a redelivery would: queued again in a batch
    db.execute("UPDATE messages SET outcome = 'planned', final_at = NULL WHERE submission_id = %s", (sid,))
    db.execute("UPDATE messages SET outcome = 'queued' WHERE submission_id = %s", (sid,))
    db.commit()
    row = db.execute("""SELECT b.*, c.oin FROM batches b JOIN connections c ON c.id = b.connection_id
                        WHERE b.id = %s""", (batch,)).fetchone()
    built = build.build(db, row)
    assert built.payload is None and len(built.rejections) == 1
    assert "deleted (retention period)" in next(iter(built.rejections.values()))
