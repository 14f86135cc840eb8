"""The tour's manual-page part (issue 18): a tenant user signs in at ``/bbx/login`` and uses
``/bbx/send`` as a browser would — form posts with the browser's ``Origin`` (the pages'
CSRF check, ``pages._same_origin``) and the session cookie — then reads what the page says:
the preview of a filled letter, "N will be sent, M not subscribed" after the subscription
check and after the send, the confirmation above ``BBX_MANUAL_CONFIRM_ABOVE``, a scheduled
send, its cancel button, and the progress figures on the submission page. Called from
:func:`bbx.demo.tour.run`; needs the fill-in template of :mod:`bbx.demo.tour_templates`."""

from __future__ import annotations

import html
import re
import secrets
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bbx.demo.tour_common import CONNECTION, OIN, TENANT, TYPE, counts_rule

VALUES = "naam: deelnemer\ningangsdatum: 1 april 2027\nheeft_partner: nee"


def _text(page: str, element_id: str) -> str:
    """The visible text of the element with ``element_id`` (up to its closing tag)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', page, re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(2))).split()) if found else ""


def _forecast(page: str, element_id: str) -> tuple[int, int] | None:
    """(will be sent, not subscribed) of "N will be sent, M not subscribed" in the element."""
    found = re.search(r"(\d+) will be sent, (\d+) not subscribed", _text(page, element_id))
    return (int(found.group(1)), int(found.group(2))) if found else None


def _token(page: str) -> str:
    found = re.search(r'name="token" value="([^"]*)"', page)
    return found.group(1) if found else ""


def _person(tenant: str) -> tuple[str, str]:
    """A tenant user made as an operator would (``bbx users add``); its password from stdin."""
    name, password = f"tour-{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    made = subprocess.run([sys.executable, "-m", "bbx.cli", "users", "add", name, "--role", "tenant", "--tenant",
                           tenant, "--full-name", "Tour", "--password-stdin"], input=password, text=True,
                          capture_output=True)
    if made.returncode != 0:
        raise RuntimeError(f"bbx users add failed: {made.stdout}{made.stderr}")
    return name, password


def _browser(tour):
    import httpx

    return httpx.Client(base_url=f"{tour.stack.api_url}/bbx", timeout=120, follow_redirects=False,
                        headers={"Origin": tour.stack.api_url})


def _post(page, fields: dict[str, str]):
    """The send form as a browser posts it: multipart, the two PDF inputs left empty."""
    empty = ("", b"", "application/octet-stream")
    return page.post("/send", data=fields, files=[("pdfs", empty), ("pdfs", empty)])


def run(tour, client, timeout: float) -> None:
    from bbx.api.control_pages import CONFIRM_ABOVE_DEFAULT
    threshold = int(tour.stack.env.get("BBX_MANUAL_CONFIRM_ABOVE", CONFIRM_ABOVE_DEFAULT))
    small = tour.citizens(CONNECTION, OIN, "active", 2) + tour.citizens(CONNECTION, OIN, "never", 1)
    large = tour.citizens(CONNECTION, OIN, "active", threshold) + tour.citizens(CONNECTION, OIN, "never", 1)
    name, password = _person(TENANT)
    with _browser(tour) as page:
        signed = page.post("/login", data={"username": name, "password": password, "next": "/bbx/send"})
        form = page.get("/send", params={"lang": "en"})  # the EN switch: the page answers in English
        tour.check("sign in / manual page", signed.status_code == 303 and form.status_code == 200
                   and f"{CONNECTION}/{TYPE}" in form.text,
                   f"tenant user {name}: HTTP {signed.status_code} -> {signed.headers.get('location')}, "
                   f"/send HTTP {form.status_code}")
        fields = {"token": _token(form.text), "message_type": f"{CONNECTION}/{TYPE}", "text": "", "reference": "",
                  "values": VALUES, "send_at": "", "publication_date": "", "bsns": "\n".join(small)}
        shown = _post(page, {**fields, "action": "preview"})
        letter = _text(shown.text, "letter-preview")
        tour.check("preview / manual page", shown.status_code == 200 and "Beste deelnemer," in letter
                   and "1 april 2027" in letter and "((" not in letter and "eigen brief" not in letter,
                   f"HTTP {shown.status_code}: {letter[:90]!r}")
        checked = _post(page, {**fields, "action": "check"})
        tour.check("subscription check / manual page", _forecast(checked.text, "check-forecast") == (2, 1),
                   f"HTTP {checked.status_code}: {_text(checked.text, 'check-forecast')!r}")
        sent = _post(page, {**fields, "action": "send"})
        done = page.get(sent.headers.get("location", "/send").removeprefix("/bbx"))
        small_id = int(re.search(r"done=(\d+)", sent.headers.get("location") or "done=0").group(1))
        tour.check("send: the result / manual page", sent.status_code == 303 and _forecast(done.text, "done-forecast")
                   == (2, 1), f"submission {small_id}: {_text(done.text, 'done-forecast')[:70]!r}")

        moment = (datetime.now(ZoneInfo("Europe/Amsterdam")) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
        fields = {**fields, "token": _token(done.text), "bsns": "\n".join(large), "send_at": moment}
        asked = _post(page, {**fields, "action": "send"})
        expected = (len(large) - 1, 1)
        tour.check("confirmation / manual page", asked.status_code == 200 and "confirm-title" in asked.text
                   and _forecast(asked.text, "confirm-forecast") == expected,
                   f"{len(large)} BSNs (BBX_MANUAL_CONFIRM_ABOVE {threshold}): {_text(asked.text, 'confirm-title')!r}"
                   f", {_text(asked.text, 'confirm-forecast')[:60]!r}")
        confirmed = _post(page, {**fields, "action": "send", "token": _token(asked.text),
                                 "confirmed": str(len(large))})
        found = re.search(r"done=(\d+)", confirmed.headers.get("location", ""))
        large_id = int(found.group(1)) if found else 0
        scheduled = page.get(f"/send?done={large_id}") if large_id else confirmed
        status = tour.status(client, large_id) if large_id else {"progress": {}, "counts": {}}
        tour.check("schedule / manual page", confirmed.status_code == 303 and "done-schedule" in scheduled.text
                   and status["progress"].get("stage") == "scheduled" and status["counts"].get("sent") == 0,
                   f"submission {large_id}: stage {status['progress'].get('stage')}, send_at {status.get('send_at')}; "
                   f"{_text(scheduled.text, 'done-schedule')[:60]!r}")

        if not large_id:  # not scheduled (a FAIL above): nothing to cancel
            return
        before = page.get(f"/submissions/{large_id}")
        cancelled = page.post(f"/submissions/{large_id}/cancel")
        after = page.get(cancelled.headers.get("location", f"/submissions/{large_id}").removeprefix("/bbx"))
        status = tour.status(client, large_id)
        said = re.search(r"\d+ messages? cancelled[^.]*", after.text)
        tour.check("cancel / manual page", 'id="cancel-button"' in before.text and cancelled.status_code == 303
                   and status["status"] == "closed" and counts_rule(status["counts"], status["rows_handed_in"])
                   and status["counts"]["cancelled"] + status["counts"]["not_subscribed"] == len(large),
                   f"submission {large_id}: page {said.group(0) if said else None!r}; cancelled "
                   f"{status['counts']['cancelled']}, not subscribed {status['counts']['not_subscribed']}, "
                   f"{status['status']}")

        if not small_id:  # not sent (a FAIL above): no progress to show
            return
        closed = tour.wait_closed(client, small_id, timeout)
        shown = page.get(f"/submissions/{small_id}")
        figures = _text(shown.text, "progress-figures")
        bar = re.search(r'id="progress-bar"[^>]*value="(\d+)"', shown.text)
        tour.check("progress / manual page", closed["status"] == "closed" and bar is not None
                   and bar.group(1) == "100" and "handed in: 3" in figures and "final: 3 (100%)" in figures,
                   f"submission {small_id}: bar {bar.group(1) if bar else None}%, {figures!r}")
