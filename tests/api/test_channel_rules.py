"""One set of row rules for every channel (issue 11 item 1), checked property-based.

Hypothesis generates rows (a BSN written in many ways, a text, a reference, a message type
with or without standard text). Each row goes through

- the SFTP intake's row check (``DropCheck`` over a real list file, with the message
  type and standard attachments from the database, as ``intake.steps.rows`` does it),
- the web service (a real HTTP request to the app): one text for a list of BSNs (``bsns``),
  or a personal letter (``messages``: text, subject, reference per citizen) as JSON or as
  a streamed multipart request, and
- the manual page (a real form post, signed in; it has no subject field, so its verdict
  is the one of the same row without subject),

and every channel must give the same verdict, with the same reasons, and the web service
and the manual page must store the same normalised text, subject and reference that the
SFTP intake would. Bounded: a fixed number of derandomized examples.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
import json
import re
import uuid

import pytest
from api_helpers import auth, form, sign_in
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bbx import crypto
from bbx.api import throttle
from bbx.api.auth import SESSION_COOKIE
from bbx.domain import bsn as bsn_rules
from bbx.domain import rows as row_rules
from bbx.domain.drop import ListedFile, classify, parse_marker
from bbx.domain.drop_check import DropCheck
from bbx.intake.steps.rows import message_type_info
from bbx.store import administration, handins

pytestmark = pytest.mark.usefixtures("english")  # these tests pin the English wording


FRESH = bsn_rules.generate(100_000, seed=97)  # a new citizen per example: no "already handed in"
# characters the channels used to treat differently, and ordinary ones
ALPHABET = st.sampled_from(list("aZé€09 ;,'\"<&\t\n\r") + ["\r\n", "\x7f", "\x85", "\x07", "\x0b", "\u2028",
                                                          "\ufffe", "\U0001F600"])
TEXTS = st.one_of(
    st.none(),
    st.lists(ALPHABET, max_size=12).map("".join),
    st.tuples(st.integers(3990, 4005), st.sampled_from(["", "\n", "\r\n"])).map(lambda t: "x" * t[0] + t[1] + "y"),
)
REFERENCES = st.one_of(st.none(), st.lists(ALPHABET, max_size=28).map("".join))
SUBJECTS = st.one_of(st.none(), st.lists(ALPHABET, max_size=12).map("".join),
                     st.integers(48, 52).map(lambda n: "s" * n))
API_FORMS = st.sampled_from(["bsns", "messages", "messages multipart"])
BSN_FORMS = st.sampled_from(["as is", "dots", "inner space", "spaces around", "typo", "excel", "letters"])


def written(form_: str, bsn: str) -> str:
    return {
        "as is": bsn, "dots": f"{bsn[:3]}.{bsn[3:6]}.{bsn[6:]}", "inner space": f"{bsn[:4]} {bsn[4:]}",
        "spaces around": f"  {bsn} ", "typo": bsn[:-1] + str((int(bsn[-1]) + 1) % 10), "excel": "3.69212E+08",
        "letters": bsn[:5] + "abcd",
    }[form_]


def sftp_row(conn, connection: dict, type_code: str, bsn: str, text: str | None, reference: str | None,
             subject: str | None = None):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerows([["bsn", "tekst", "onderwerp", "referentie"], [bsn, text or "", subject or "", reference or ""]])
    files = {"lijst.csv": out.getvalue().encode("utf-8"), "READY": f"message_type: {type_code}\n".encode()}
    listed = [classify(ListedFile(name, len(data))) for name, data in files.items()]
    check = DropCheck(parse_marker("READY", files["READY"]), listed, lambda n: io.BytesIO(files[n])).scan()
    assert check.problems == []
    message_type, problem = handins.usable_message_type(conn, connection, type_code)
    assert problem is None
    [result] = check.check_rows(message_type_info(message_type), handins.standard_set(conn, message_type["id"]), {})
    return result


def plain(message: str) -> str:
    """An API message back in the rule's own words (the API writes them as sentences)."""
    return message[:1].lower() + message[1:].removesuffix(".")


def api_reasons(body: dict) -> list[str]:
    reasons = []
    for error in body.get("errors", [body["error"]]):
        if error["code"] in ("invalid_bsns", "invalid_messages"):
            reasons += [d["reason"] for d in error["details"]]
        else:
            reasons.append(plain(error["message"]))
    return reasons


def stored(db, submission_id: int) -> tuple[str | None, str | None, str | None, str | None]:
    db.rollback()
    row = db.execute("SELECT outcome, text_encrypted, subject, reference FROM messages WHERE submission_id = %s",
                     (submission_id,)).fetchone()
    text = crypto.decrypt_text(row["text_encrypted"]) if row["text_encrypted"] is not None else None
    return row["outcome"], text, row["subject"], row["reference"]


# derandomized and bounded for `make test`; no shrinking (each example is three real hand-ins,
# shrinking would take minutes): a failure shows the first failing row as generated
@settings(max_examples=100, derandomize=True, deadline=None, database=None, phases=(Phase.explicit, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(type_code=st.sampled_from(["PASPRT", "WOZ2026"]), bsn_form=BSN_FORMS, text=TEXTS, reference=REFERENCES,
       subject=SUBJECTS, api_form=API_FORMS)
def test_every_channel_gives_the_same_verdict_and_stores_the_same_text(client, keys, configured, monkeypatch,
                                                                        type_code, bsn_form, text, reference,
                                                                        subject, api_form):
    # a hundred sends in a few seconds: above the limits per tenant, which are not under test here
    monkeypatch.setattr(throttle, "API_KEY_REQUESTS_PER_MINUTE", 1_000_000)
    configured.execute("UPDATE connections SET rate_limit_per_minute = 1000000")
    configured.commit()
    # the same form of writing, a new citizen per channel (one citizen would rightly be
    # "already handed in" in the second channel: that rule is the store's, tested below)
    bsn, page_bsn = written(bsn_form, next(FRESH)), written(bsn_form, next(FRESH))
    connection = administration.connection_by_code(configured, "voorbeeld")
    intake = sftp_row(configured, connection, type_code, bsn, text, reference, subject)
    plain_intake = sftp_row(configured, connection, type_code, bsn, text, reference)  # the row without subject
    # an empty list cell means "not given": in the other channels that is leaving the field out
    given_text = text if text and text.strip() else None
    given_reference = reference if reference and reference.strip() else None

    headers = {**auth(keys.a), "Idempotency-Key": str(uuid.uuid4())}
    url = "/api/v1/connections/voorbeeld/messages"
    if api_form == "bsns":
        body = {"message_type": type_code, "bsns": [bsn]}
        body |= {"text": given_text} if given_text is not None else {}
        body |= {"reference": given_reference} if given_reference is not None else {}
        api, api_intake = client.post(url, json=body, headers=headers), plain_intake
    else:  # a personal letter: the values as in the list's cells (empty is "not given" there too)
        body = {"message_type": type_code,
                "messages": [{"bsn": bsn, "text": text, "subject": subject, "reference": reference}]}
        if api_form == "messages":
            api = client.post(url, json=body, headers=headers)
        else:  # the streamed reader (bbx.api.streamed), without PDFs
            content = (b'--bbx\r\nContent-Disposition: form-data; name="request"\r\n\r\n'
                       + json.dumps(body).encode() + b"\r\n--bbx--\r\n")
            api = client.post(url, content=content,
                              headers={**headers, "Content-Type": "multipart/form-data; boundary=bbx"})
        api_intake = intake

    if SESSION_COOKIE not in client.cookies:  # the examples share one client: sign in once (a slow hash)
        sign_in(client, keys.a)
    page = client.post("/send", data=form(client, message_type=f"voorbeeld/{type_code}", bsns=page_bsn,
                                          text=given_text or "", reference=given_reference or ""),
                       follow_redirects=False)

    if api_intake.accepted:
        assert api.status_code == 201, (api.json(), api_intake)
        assert stored(configured, api.json()["id"]) == ("planned", api_intake.text, api_intake.subject,
                                                        api_intake.reference)
    else:
        assert api.status_code == 422, api.text
        assert sorted(api_reasons(api.json())) == sorted(api_intake.reasons)  # each channel lists in its own order
    if plain_intake.accepted:
        assert page.status_code == 303, page.text
        done = int(re.search(r"done=(\d+)", page.headers["location"]).group(1))
        assert stored(configured, done) == ("planned", plain_intake.text, None, plain_intake.reference)
    else:
        assert page.status_code == 422
        shown = html.unescape(page.text)
        for reason in plain_intake.reasons:
            assert row_rules.sentence(reason) in shown or reason in shown, reason


def test_the_rules_are_one_place_not_one_per_channel():
    """The channels' own checks are the domain's: no second copy to drift apart."""
    from bbx.api import sending
    from bbx.domain import drop_check

    assert sending.check_reference("ref\x85x")[1][0].message == row_rules.sentence(
        row_rules.reference("ref\x85x").problem.message)
    assert drop_check.clean_text("a\nb", "text", 10, multiline=True) == ("a\r\nb", None)
    assert list(itertools.islice(FRESH, 1))  # the generator of fresh citizens is not exhausted
