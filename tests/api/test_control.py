"""Control over a send through the web service (issue 18): cancel, schedule (send_at,
publication_date), and the progress figures of the submission status. Real PostgreSQL,
the real planner."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from api_helpers import auth, bsns, seed_register, send, set_outcomes

from bbx.delivery import plan
from bbx.domain.localtime import TIMEZONE


def _subscribed(db, numbers):
    seed_register(db, "voorbeeld", [(b, date(2020, 1, 1), None) for b in numbers])


def test_cancel_through_the_api(client, keys, configured):
    numbers = bsns(3, seed=185)
    sid = send(client, keys.a, bsns=numbers).json()["id"]
    # another tenant cannot see it, let alone cancel it
    assert client.post(f"/api/v1/submissions/{sid}/cancel", headers=auth(keys.b)).status_code == 404
    answer = client.post(f"/api/v1/submissions/{sid}/cancel", headers=auth(keys.a))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["cancelled"], body["not_cancelled"], body["closed"], body["first_request"]) == (3, 0, True, True)
    status = body["status"]
    assert status["status"] == "closed" and status["counts"]["cancelled"] == 3 and status["reconciled"]
    assert status["cancel_requested_at"] and status["cancelled_by"].startswith("api-key:")
    assert "+ cancelled 3 = 3 of 3 rows" in status["reconciliation"]
    assert status["progress"]["stage"] == "done" and status["progress"]["percent"] == 100
    again = client.post(f"/api/v1/submissions/{sid}/cancel", headers=auth(keys.a)).json()
    assert (again["cancelled"], again["first_request"]) == (0, False)
    rows = client.get(f"/api/v1/submissions/{sid}/messages", headers=auth(keys.a)).json()["rows"]
    assert {r["outcome"] for r in rows} == {"cancelled"} and all(r["final_at"] for r in rows)


def test_cancel_says_how_many_are_already_with_mijnoverheid(client, keys, configured):
    numbers = bsns(4, seed=186)
    sid = send(client, keys.a, bsns=numbers).json()["id"]
    set_outcomes(configured, sid, {1: ("delivered", "Verwerkt", None), 2: ("sent", None, None)})
    body = client.post(f"/api/v1/submissions/{sid}/cancel", headers=auth(keys.a)).json()
    assert (body["cancelled"], body["not_cancelled"], body["already_final"], body["closed"]) == (2, 1, 1, False)
    assert "1 message(s) were already with MijnOverheid" in body["explanation"]
    assert body["status"]["status"] != "closed" and body["status"]["counts"]["sent"] == 1


def test_a_scheduled_send_waits_for_its_moment_and_can_be_cancelled_until_then(client, keys, configured, database_url):
    numbers = bsns(2, seed=187)
    _subscribed(configured, numbers)
    later = datetime.now(TIMEZONE) + timedelta(hours=2)
    publish = (later + timedelta(days=13)).date()
    response = send(client, keys.a, bsns=numbers, send_at=later.isoformat(), publication_date=publish.isoformat())
    assert response.status_code == 201, response.text
    status = response.json()
    sid = status["id"]
    assert datetime.fromisoformat(status["send_at"]) == later
    assert status["progress"]["stage"] == "scheduled" and status["progress"]["seconds_left"] is None
    # the delivery plan does not take it before its time ...
    assert sid not in plan.plan_run("run-s1", max_map_length=1024, url=database_url)["submissions"]
    # ... and takes it (on bbx_deliver's next timer run) once the time has come
    configured.execute("UPDATE submissions SET send_at = now() - interval '1 second' WHERE id = %s", (sid,))
    configured.commit()
    assert sid in plan.plan_run("run-s2", max_map_length=1024, url=database_url)["submissions"]
    days = {r["publication_date"] for r in configured.execute(
        "SELECT publication_date FROM messages WHERE submission_id = %s", (sid,))}
    configured.commit()
    assert days == {publish}

    # a second scheduled send is cancelled before it starts: nothing of it is ever planned
    other = send(client, keys.a, bsns=bsns(2, seed=188), send_at=later.isoformat()).json()["id"]
    body = client.post(f"/api/v1/submissions/{other}/cancel", headers=auth(keys.a)).json()
    assert (body["cancelled"], body["closed"]) == (2, True)
    configured.execute("UPDATE submissions SET send_at = now() WHERE id = %s", (other,))
    configured.commit()
    assert other not in plan.plan_run("run-s3", max_map_length=1024, url=database_url)["submissions"]


def test_schedule_errors_name_the_field(client, keys, configured):
    now = datetime.now(UTC)
    too_late = (now + timedelta(days=14)).date().isoformat()
    r = send(client, keys.a, publication_date=too_late)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_schedule"
    assert r.json()["error"]["field"] == "publication_date" and "13 days" in r.json()["error"]["message"]
    r = send(client, keys.a, publication_date=(now - timedelta(days=2)).date().isoformat())
    assert r.status_code == 422 and "before the send day" in r.json()["error"]["message"]
    r = send(client, keys.a, send_at=(now + timedelta(days=31)).isoformat())
    assert r.status_code == 422 and r.json()["error"]["field"] == "send_at"
    r = send(client, keys.a, send_at="2026-05-01T08:00:00")
    assert r.status_code == 422 and "time zone" in r.json()["error"]["message"]
    # a moment in the past is "now": accepted, not scheduled
    r = send(client, keys.a, bsns=bsns(1, seed=189), send_at=(now - timedelta(minutes=1)).isoformat())
    assert r.status_code == 201 and r.json()["send_at"] is None


def test_the_same_key_with_another_schedule_is_a_conflict_and_with_the_same_one_a_replay(client, keys, configured):
    later = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    publish = (later.astimezone(TIMEZONE) + timedelta(days=2)).date()
    body = {"bsns": bsns(2, seed=190), "send_at": later.isoformat(), "publication_date": publish.isoformat()}
    first = send(client, keys.a, idem="schedule-key", **body)
    assert first.status_code == 201, first.text
    sid = first.json()["id"]
    # the same moment written in another offset is the same schedule: the first answer again
    again = send(client, keys.a, idem="schedule-key", **{**body, "send_at": later.astimezone(TIMEZONE).isoformat()})
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true" and again.json()["id"] == sid
    for changed, field in [({"send_at": (later + timedelta(hours=1)).isoformat()}, "send_at"),
                           ({"send_at": None}, "send_at"),
                           ({"publication_date": (publish + timedelta(days=1)).isoformat()}, "publication_date"),
                           ({"publication_date": None}, "publication_date")]:
        other = send(client, keys.a, idem="schedule-key", **{**body, **changed})
        assert other.status_code == 409, (changed, other.text)
        error = other.json()["error"]
        assert error["code"] == "idempotency_key_reused" and error["field"] == field
        assert f"already used for submission {sid} with another schedule" in error["message"]
        assert publish.isoformat() in error["message"]
        assert error["details"] == [{"submission_id": sid, "send_at": later.isoformat(),
                                     "publication_date": publish.isoformat()}]
    dutch = send(client, keys.a, idem="schedule-key", **{**body, "send_at": None}, lang="nl")
    assert dutch.status_code == 409 and "met een andere planning" in dutch.json()["error"]["message"], dutch.text
    configured.rollback()
    assert configured.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"] == 1


def test_a_retry_after_the_moment_came_is_still_the_same_request(client, keys, configured):
    """send_at a moment ago at the retry, still ahead at the first hand-in: the same request
    (compared as asked, not as "now" makes of it)."""
    soon = datetime.now(UTC) + timedelta(hours=1)
    body = {"bsns": bsns(2, seed=191), "send_at": soon.isoformat()}
    sid = send(client, keys.a, idem="retry-key", **body).json()["id"]
    # as if the first hand-in was two hours ago and the moment has come since
    configured.execute("UPDATE submissions SET received_at = received_at - interval '2 hours' WHERE id = %s", (sid,))
    configured.execute("UPDATE submissions SET send_at = %s WHERE id = %s", (soon - timedelta(hours=2), sid))
    configured.commit()
    late = send(client, keys.a, idem="retry-key", **{**body, "send_at": (soon - timedelta(hours=2)).isoformat()})
    assert late.status_code == 200 and late.json()["id"] == sid, late.text
    # a request without a schedule, repeated with a moment that was already past when it came: the same
    plain = {"bsns": bsns(2, seed=192)}
    first = send(client, keys.a, idem="plain-key", **plain)
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    assert send(client, keys.a, idem="plain-key", **plain, send_at=past).json()["id"] == first.json()["id"]


def test_a_retry_days_later_with_a_publication_date_past_since_replays(client, keys, configured):
    """The schedule of a repeated key is judged as at its first hand-in: a publication_date
    that has passed since is no invalid_schedule but the same request (a replay); another
    one is still refused as another schedule, and a new key with it is invalid_schedule."""
    today = datetime.now(TIMEZONE).date()
    body = {"bsns": bsns(2, seed=193), "publication_date": (today + timedelta(days=2)).isoformat()}
    first = send(client, keys.a, idem="days-later", **body)
    assert first.status_code == 201, first.text
    sid = first.json()["id"]
    # as if the first hand-in was five days ago: its publication date lies three days back now
    past = today - timedelta(days=3)
    configured.execute("UPDATE submissions SET received_at = received_at - interval '5 days', publication_date = %s "
                       "WHERE id = %s", (past, sid))
    configured.commit()
    retry = {**body, "publication_date": past.isoformat()}
    again = send(client, keys.a, idem="days-later", **retry)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true", again.text
    assert again.json()["id"] == sid
    other = send(client, keys.a, idem="days-later", **{**retry, "publication_date": (past - timedelta(days=1)).isoformat()})
    assert other.status_code == 409 and other.json()["error"]["field"] == "publication_date", other.text
    new = send(client, keys.a, idem="days-later-new-key", **retry)
    assert new.status_code == 422 and new.json()["error"]["code"] == "invalid_schedule", new.text
