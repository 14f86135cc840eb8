"""The pages' side of control over a send (issue 18): the manual page tells the truth
("N will be sent, M not subscribed") and asks for confirmation above a configurable count;
the submission page shows the progress bar and cancels. Real app, real PostgreSQL."""

from __future__ import annotations

import re
from datetime import date

import pytest
from api_helpers import bsns, form, seed_register, sign_in


@pytest.fixture
def signed_in(client, keys):
    sign_in(client, keys.a)
    return client


def _count(db) -> int:
    db.rollback()
    return db.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"]


def test_the_manual_page_says_how_many_will_be_sent(signed_in, configured):
    client = signed_in
    people = bsns(3, seed=192)
    seed_register(configured, "voorbeeld", [(people[0], date(2025, 1, 1), None)])
    check = client.post("/send", data=form(client, message_type="voorbeeld/PASPRT", bsns="\n".join(people),
                                           action="check"))
    assert "1 will be sent, 2 not subscribed" in check.text
    sent = client.post("/send", data=form(client, message_type="voorbeeld/PASPRT", bsns="\n".join(people)))
    assert sent.status_code == 200 and "Submission" in sent.text  # followed the redirect
    done = sent.text[sent.text.index('id="done"'):]
    assert "1 will be sent, 2 not subscribed" in done and "3 messages" not in done


def test_a_large_manual_send_asks_for_confirmation(signed_in, configured, monkeypatch):
    client = signed_in
    monkeypatch.setenv("BBX_MANUAL_CONFIRM_ABOVE", "2")
    people = bsns(3, seed=193)
    seed_register(configured, "voorbeeld", [(b, date(2025, 1, 1), None) for b in people[:2]])
    data = form(client, message_type="voorbeeld/PASPRT", bsns="\n".join(people))
    page = client.post("/send", data=data, follow_redirects=False)
    assert page.status_code == 200 and "Confirm a send of 3 messages" in page.text
    assert "2 will be sent, 1 not subscribed" in page.text and _count(configured) == 0
    confirmed = re.search(r'name="confirmed" value="(\d+)"', page.text).group(1)
    # the confirmation is for this count: a changed list asks again
    bigger = client.post("/send", data={**data, "bsns": "\n".join(bsns(4, seed=194)), "confirmed": confirmed},
                         follow_redirects=False)
    assert bigger.status_code == 200 and "Confirm a send of 4 messages" in bigger.text and _count(configured) == 0
    response = client.post("/send", data={**data, "confirmed": confirmed}, follow_redirects=False)
    assert response.status_code == 303 and _count(configured) == 1
    monkeypatch.setenv("BBX_MANUAL_CONFIRM_ABOVE", "3")  # at or below the count: no question
    response = client.post("/send", data=form(client, message_type="voorbeeld/PASPRT",
                                              bsns="\n".join(bsns(3, seed=195))), follow_redirects=False)
    assert response.status_code == 303


def test_the_submission_page_shows_progress_and_cancels(signed_in, configured, client, keys):
    people = bsns(3, seed=196)
    response = signed_in.post("/send", data=form(signed_in, message_type="voorbeeld/PASPRT",
                                                 bsns="\n".join(people)), follow_redirects=False)
    sid = int(re.search(r"done=(\d+)", response.headers["location"]).group(1))
    page = signed_in.get(f"/submissions/{sid}")
    assert '<progress id="progress-bar" max="100" value="0"' in page.text
    assert "handed in: 3" in page.text and 'http-equiv="refresh"' in page.text
    assert 'id="cancel-button"' in page.text
    # a post from another site is refused
    foreign = signed_in.post(f"/submissions/{sid}/cancel", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    answer = signed_in.post(f"/submissions/{sid}/cancel", follow_redirects=False)
    assert answer.status_code == 303 and "cancelled=3" in answer.headers["location"]
    page = signed_in.get(answer.headers["location"])
    assert "3 messages cancelled" in page.text and "cancelled (not sent)" in page.text
    assert 'id="cancel-button"' not in page.text and 'http-equiv="refresh"' not in page.text
    assert 'value="100"' in page.text
    # another tenant's staff cannot cancel it
    sign_in(client, keys.b)
    assert client.post(f"/submissions/{sid}/cancel", follow_redirects=False).status_code == 404
