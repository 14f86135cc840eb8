"""A drop that schedules its send (issue 18, docs/drop-protocol.md §2.8): ``send_at`` and
``publication_date`` in READY or manifest.json, checked by the rules of every channel
(bbx.domain.schedule). Real SFTP server over TCP, real PostgreSQL, the real intake steps and
the real delivery planner; the moment passes as in tests/moment_passes.py, without waiting."""

from __future__ import annotations

import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from intake_helpers import CONNECTION, csv_bytes, manifest, ready, run_intake
from moment_passes import ahead, moment_passes, send_day

from bbx.delivery import plan
from bbx.domain import bsn as bsn_rules
from bbx.domain import drop as drop_rules
from bbx.domain import schedule
from bbx.domain.localtime import TIMEZONE
from bbx.intake import steps


def _subscribed(db, numbers: list[str]) -> None:
    """A fresh register (an applied refresh just now, so the drop is not held for it) in
    which ``numbers`` are subscribed."""
    db.rollback()
    cid = db.execute("SELECT id FROM connections WHERE code = %s", (CONNECTION,)).fetchone()["id"]
    refresh = db.execute(
        """INSERT INTO register_refreshes (connection_id, logical_date, kind, request_id, status, snapshot_at,
                                           entries, opened, closed, applied_at)
           VALUES (%s, current_date, 'full', %s, 'applied', now(), 0, 0, 0, now()) RETURNING id""",
        (cid, str(uuid.uuid4()))).fetchone()["id"]
    for number in numbers:
        db.execute("""INSERT INTO register_periods (connection_id, bsn, begin_date, opened_by_refresh)
                      VALUES (%s, %s, '2025-01-01', %s)""", (cid, number, refresh))
    db.commit()


def _submission(db, sid: int) -> dict:
    db.rollback()
    return db.execute("SELECT status, send_at, publication_date FROM submissions WHERE id = %s", (sid,)).fetchone()


def _planned(database_url: str, run_id: str) -> set[int]:
    answer = plan.plan_run(run_id, max_map_length=1024, url=database_url)
    return set(answer["submissions"]) | {h["submission"] for h in answer["held"]}


def test_a_drop_scheduled_in_ready_waits_for_its_moment_then_is_planned(tenant, configured, database_url):
    numbers = list(bsn_rules.generate(2, seed=401))
    _subscribed(configured, numbers)
    # typed by a person: Dutch time without an offset; an hour ahead
    moment = ahead()
    publish = send_day() + timedelta(days=13)  # the contract's limit
    tenant.upload_drop("later", {"lijst.csv": csv_bytes("bsn\n" + "\n".join(numbers) + "\n")},
                       marker_content=ready("PASPRT", send_at=moment.strftime("%Y-%m-%d %H:%M:%S"),
                                            publication_date=publish.isoformat()))
    (result,) = run_intake()
    sid = result["submission_id"]
    ack = json.loads(tenant.outbox()[f"later.s{sid}.ack.json"])
    assert ack["status"] == "accepted" and ack["rows"]["accepted"] == 2
    assert datetime.fromisoformat(ack["send_at"]) == moment and ack["publication_date"] == publish.isoformat()
    row = _submission(configured, sid)
    assert (row["status"], row["send_at"], row["publication_date"]) == ("accepted", moment, publish)
    days = {r["publication_date"] for r in configured.execute(
        "SELECT publication_date FROM messages WHERE submission_id = %s", (sid,))}
    assert days == {publish}
    configured.commit()

    assert sid not in _planned(database_url, "run-early")  # not before its moment ...
    assert _submission(configured, sid)["status"] == "accepted"
    moment_passes(configured, sid)
    assert sid in _planned(database_url, "run-late")  # ... and on the first run after it
    assert _submission(configured, sid)["status"] == "delivering"


def test_a_scheduled_drop_is_cancelled_with_cancel_before_it_starts(tenant, configured, database_url):
    numbers = list(bsn_rules.generate(3, seed=402))
    _subscribed(configured, numbers)
    moment = ahead().astimezone(UTC)
    files = {"lijst.csv": csv_bytes("bsn\n" + "\n".join(numbers) + "\n")}
    tenant.upload_drop("geannuleerd", files, marker="manifest.json",
                       marker_content=manifest("PASPRT", files, send_at=moment.isoformat()))
    (result,) = run_intake()
    sid = result["submission_id"]
    assert _submission(configured, sid)["send_at"] == moment
    tenant.sftp.putfo(io.BytesIO(f"submission: {sid}\n".encode()), f"/{CONNECTION}/inbox/CANCEL")
    steps.find_drops(CONNECTION)
    answer = json.loads(tenant.outbox()[f"CANCEL.s{sid}.cancel.json"])
    assert (answer["cancelled"], answer["not_cancelled"], answer["closed"]) == (3, 0, True)
    moment_passes(configured, sid)
    assert sid not in _planned(database_url, "run-after-cancel")  # its moment came: nothing of it is sent
    configured.rollback()
    outcomes = {r["outcome"] for r in configured.execute(
        "SELECT outcome FROM messages WHERE submission_id = %s", (sid,))}
    assert outcomes == {"cancelled"} and _submission(configured, sid)["status"] == "closed"


@pytest.mark.parametrize(("marker", "content", "expected"), [
    ("READY", {"send_at": "2026-05-01"}, "send_at '2026-05-01' is not a date and time: write it as 2026-05-01 "
                                         "08:00 (Dutch time)"),
    ("READY", {"publication_date": "1-5-2026"}, "publication_date '1-5-2026' is not a day"),
    ("manifest.json", {"send_at": "2026-05-01T08:00:00"}, "send_at needs a time zone"),
    ("manifest.json", {"send_at": 20260501}, "\"send_at\" must be text"),
])
def test_a_wrong_schedule_rejects_the_whole_drop_with_a_manifest_error(tenant, configured, marker, content,
                                                                        expected):
    numbers = list(bsn_rules.generate(2, seed=403))
    files = {"lijst.csv": csv_bytes("bsn\n" + "\n".join(numbers) + "\n")}
    body = ready("PASPRT", **content) if marker == "READY" else manifest("PASPRT", files, **content)
    tenant.upload_drop("fout", files, marker=marker, marker_content=body)
    # judged on the first poll: a whole manifest with a wrong value waits no grace (the
    # marker was written just now)
    (result,) = run_intake()
    sid = result["submission_id"]
    outbox = tenant.outbox()
    ack = json.loads(outbox[f"fout.s{sid}.ack.json"])
    assert ack["status"] == "rejected" and ack["rows"]["handed_in"] == 0 and ack["send_at"] is None
    assert expected in ack["reason"] and "The whole drop was not processed" in ack["reason"]
    assert expected in outbox[f"fout.s{sid}.rejected.txt"].decode()
    configured.rollback()
    assert configured.execute("SELECT count(*) AS n FROM messages WHERE submission_id = %s",
                              (sid,)).fetchone()["n"] == 0


@pytest.mark.dutch  # the connection keeps the default language, or is set to English
@pytest.mark.parametrize(("lang", "expected"), [
    ("nl", "publication_date '2026-05-01 08:00' is geen dag: schrijf hem als 2026-05-01"),
    ("en", "publication_date '2026-05-01 08:00' is not a day: write it as 2026-05-01"),
])
def test_a_wrong_manifest_schedule_is_rejected_at_once_in_the_connection_language(tenant, configured, lang,
                                                                                  expected):
    configured.execute("UPDATE connections SET language = %s WHERE code = %s", (lang, CONNECTION))
    configured.commit()
    files = {"lijst.csv": csv_bytes("bsn\n" + "\n".join(bsn_rules.generate(2, seed=404)) + "\n")}
    tenant.upload_drop("fout-nl", files, marker="manifest.json",
                       marker_content=manifest("PASPRT", files, publication_date="2026-05-01 08:00"))
    (result,) = run_intake()
    notice = tenant.outbox()[f"fout-nl.s{result['submission_id']}.rejected.txt"].decode()
    assert expected in notice, notice


def test_half_written_manifest_waits_for_the_grace_a_whole_one_does_not():
    with pytest.raises(drop_rules.ManifestError) as half:
        drop_rules.parse_manifest("manifest.json", b'{"protocol": "bbx-drop/1", "mess')
    assert half.value.unfinished
    with pytest.raises(drop_rules.ManifestError) as whole:
        drop_rules.parse_manifest("manifest.json", b'{"protocol": "bbx-drop/1", "message_type": "X", '
                                                   b'"files": [], "send_at": "morgen"}')
    assert not whole.value.unfinished and "send_at" in str(whole.value)


def test_the_schedule_rules_of_a_marker():
    now = datetime(2026, 12, 2, 15, 0, tzinfo=TIMEZONE)
    m = drop_rules.parse_ready("READY", b"message_type: X\nsend_at = 2026-12-20 08:00\npublication_date: 2026-12-22\n",
                               now=now)
    assert m.schedule == schedule.Schedule(datetime(2026, 12, 20, 8, 0, tzinfo=TIMEZONE), datetime(2026, 12, 22).date())
    assert drop_rules.parse_ready("READY", b"message_type: X\n", now=now).schedule == schedule.NOW
    # a moment in the past means now (no schedule); the publication date counts from today then
    past = drop_rules.parse_ready("READY", b"message_type: X\nsend_at: 2026-12-01 08:00\n", now=now)
    assert past.schedule.send_at is None
    for text, error in [
        (b"message_type: X\nsend_at: 2027-03-28 02:30\n", "does not exist in Dutch time"),
        (b"message_type: X\nsend_at: 2026-10-25 02:30\n", "occurs twice in Dutch time"),
        (b"message_type: X\nsend_at: 2027-01-05 08:00\n", "at most 30 days ahead"),
        (b"message_type: X\npublication_date: 2026-12-16\n", "at most 13 days after the send day (2026-12-15"),
        (b"message_type: X\nsend_at: 2026-12-10 08:00\npublication_date: 2026-12-09\n", "before the send day"),
        (b"kind: population\nsend_at: 2026-12-10 08:00\n", "leave out send_at and publication_date"),
    ]:
        with pytest.raises(drop_rules.ManifestError, match=re.escape(error)):
            drop_rules.parse_ready("READY", text, now=now)
