"""The manual page schedules a send (issue 18): optional "Send at" (Dutch time, as typed) and
"Publication date", checked by the rules of every channel (bbx.domain.schedule), with a
confirmation that says when it goes. Real app, real PostgreSQL, the real delivery planner;
the moment passes as in tests/moment_passes.py, without waiting."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, timedelta

import pytest
from api_helpers import auth, bsns, form, seed_register, send, sign_in
from moment_passes import ahead, moment_passes, send_day

from bbx.delivery import plan
from bbx.domain.localtime import TIMEZONE


@pytest.fixture
def signed_in(client, keys):
    sign_in(client, keys.a)
    return client


def _sid(response) -> int:
    assert response.status_code == 303, response.text
    return int(re.search(r"done=(\d+)", response.headers["location"]).group(1))


def _submissions(db) -> int:
    db.rollback()
    return db.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"]


def test_a_manual_send_at_a_moment_says_when_waits_and_is_planned_after_it(signed_in, configured, database_url,
                                                                          keys):
    client = signed_in
    people = bsns(2, seed=411)
    seed_register(configured, "voorbeeld", [(b, date(2025, 1, 1), None) for b in people])
    moment = ahead()
    publish = send_day() + timedelta(days=2)
    response = client.post("/send", follow_redirects=False, data=form(
        client, message_type="voorbeeld/PASPRT", bsns="\n".join(people),
        send_at=moment.strftime("%Y-%m-%dT%H:%M:%S"),  # what a datetime-local field posts: no zone
        publication_date=publish.isoformat()))
    sid = _sid(response)
    done = client.get(response.headers["location"]).text
    done = html.unescape(done[done.index('id="done"'):])
    assert (f"Will be sent on {moment.strftime('%Y-%m-%d %H:%M')} (time zone Europe/Amsterdam)" in done
            and f"The citizen sees it from {publish.isoformat()}" in done)
    assert "2 will be sent, 0 not subscribed" in done and "The next delivery run sends them" not in done
    status = client.get(f"/api/v1/submissions/{sid}", headers=auth(keys.a)).json()
    assert datetime.fromisoformat(status["send_at"]) == moment and status["publication_date"] == publish.isoformat()
    assert status["progress"]["stage"] == "scheduled"
    page = client.get(f"/submissions/{sid}").text
    assert "Publication date" in page and publish.isoformat() in page and 'id="cancel-button"' in page

    assert sid not in plan.plan_run("run-page-early", max_map_length=1024, url=database_url)["submissions"]
    moment_passes(configured, sid)
    assert sid in plan.plan_run("run-page-late", max_map_length=1024, url=database_url)["submissions"]
    configured.rollback()
    days = {r["publication_date"] for r in configured.execute(
        "SELECT publication_date FROM messages WHERE submission_id = %s", (sid,))}
    assert days == {publish}


@pytest.mark.parametrize(("fields", "field", "expected"), [
    ({"send_at": "morgen"}, "send_at", "send_at 'morgen' is not a date and time: write it as 2026-05-01 08:00"),
    ({"send_at": "2027-03-28T02:30"}, "send_at", "does not exist in Dutch time"),
    ({"publication_date": "2020-01-01"}, "publication_date", "lies before the send day"),
    ({"publication_date": (date.today() + timedelta(days=20)).isoformat()}, "publication_date",
     "at most 13 days after the send day"),
])
def test_a_wrong_schedule_on_the_page_names_the_field_and_sends_nothing(signed_in, configured, fields, field,
                                                                        expected):
    client = signed_in
    response = client.post("/send", follow_redirects=False, data=form(
        client, message_type="voorbeeld/PASPRT", bsns="\n".join(bsns(1, seed=412)), **fields))
    assert response.status_code == 422 and _submissions(configured) == 0
    text = html.unescape(response.text)
    assert expected in text and f'<a href="#{field}">' in response.text
    assert f'id="{field}-problem"' in response.text and "Nothing was sent" in text


def test_a_far_moment_is_refused_alike_on_the_page_and_in_the_api(signed_in, configured, keys):
    """One rule set: the same limit and the same words through both channels."""
    far = datetime.now(TIMEZONE) + timedelta(days=31)
    page = signed_in.post("/send", follow_redirects=False, data=form(
        signed_in, message_type="voorbeeld/PASPRT", bsns=bsns(1, seed=413)[0],
        send_at=far.strftime("%Y-%m-%dT%H:%M")))
    api = send(signed_in, keys.a, bsns=bsns(1, seed=413), send_at=far.isoformat())
    assert page.status_code == api.status_code == 422
    message = api.json()["error"]["message"]
    assert "at most 30 days ahead" in message and message in html.unescape(page.text)


def test_a_large_scheduled_send_says_when_in_its_confirmation(signed_in, configured, monkeypatch):
    monkeypatch.setenv("BBX_MANUAL_CONFIRM_ABOVE", "1")
    moment = (datetime.now(TIMEZONE) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    page = signed_in.post("/send", follow_redirects=False, data=form(
        signed_in, message_type="voorbeeld/PASPRT", bsns="\n".join(bsns(2, seed=414)),
        send_at=moment.strftime("%Y-%m-%dT%H:%M")))
    assert page.status_code == 200 and "Confirm a send of 2 messages" in page.text
    assert f"Will be sent on {moment.strftime('%Y-%m-%d')} 09:00 (time zone Europe/Amsterdam)" in page.text
    assert f'value="{moment.strftime("%Y-%m-%dT%H:%M")}"' in page.text  # kept for the confirming post


def test_the_same_form_posted_again_with_another_moment_is_refused_not_replayed(signed_in, configured):
    client = signed_in
    moment = (datetime.now(TIMEZONE) + timedelta(hours=2)).replace(second=0, microsecond=0)
    data = form(client, message_type="voorbeeld/PASPRT", bsns="\n".join(bsns(2, seed=412)),
                send_at=moment.strftime("%Y-%m-%dT%H:%M"))
    first = _sid(client.post("/send", data=data, follow_redirects=False))
    assert _sid(client.post("/send", data=data, follow_redirects=False)) == first  # a double click: replayed
    later = {**data, "send_at": (moment + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")}
    refused = client.post("/send", data=later, follow_redirects=False)
    assert refused.status_code == 409, refused.text
    assert f"already used for submission {first} with another schedule" in html.unescape(refused.text)
    assert _submissions(configured) == 1


def test_the_same_form_posted_again_days_later_replays_though_its_publication_date_passed(signed_in, configured):
    client = signed_in
    today = datetime.now(TIMEZONE).date()
    data = form(client, message_type="voorbeeld/PASPRT", bsns="\n".join(bsns(2, seed=413)),
                publication_date=(today + timedelta(days=2)).isoformat())
    first = _sid(client.post("/send", data=data, follow_redirects=False))
    past = today - timedelta(days=3)  # as if the form was sent five days ago
    configured.execute("UPDATE submissions SET received_at = received_at - interval '5 days', publication_date = %s "
                       "WHERE id = %s", (past, first))
    configured.commit()
    again = {**data, "publication_date": past.isoformat()}
    assert _sid(client.post("/send", data=again, follow_redirects=False)) == first
    assert _submissions(configured) == 1
