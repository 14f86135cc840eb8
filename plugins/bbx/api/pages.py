"""Pages for operators and tenant staff: sign-in, home, manual send, submissions (BSN lookup
and reports: :mod:`bbx.api.pages_reports`; keys and people, the audit log, cancel and the
letter preview have their own modules).

Server-rendered (Jinja2) and usable without JavaScript; a little vanilla JavaScript
checks BSNs as they are typed and shows the standard text of the chosen message type.
Forms that change something are POSTed with a per-form token and checked for a
same-origin ``Origin`` header; session cookies are SameSite=Lax.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date
from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import UploadFile

from bbx import certificate_watch
from bbx.api import audit_views, charts, control_pages, language, page_letters, sending, service
from bbx.api.auth import SESSION_COOKIE, ConnDep, Principal, page_principal
from bbx.api.errors import ApiError, ApiErrors
from bbx.api.limits import MAX_BSNS_PER_CALL
from bbx.delivery import trigger
from bbx.domain import bsn as bsn_rules
from bbx.domain import limits
from bbx.domain.outcomes import Outcome
from bbx.domain.schedule import MAX_SEND_AT_DAYS_AHEAD
from bbx.i18n import _
from bbx.store import api_keys, lookup, register, users

log = logging.getLogger(__name__)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


language.install(TEMPLATES)  # _() and the NL/EN switch; times as "2026-12-02 09:15 (CET)" (bbx.i18n.local_time)
router = APIRouter(include_in_schema=False)


def outcome_labels() -> dict[str, str]:
    """The outcomes as people read them, in the current language."""
    return {
        Outcome.PLANNED: _("waiting to be sent"), Outcome.QUEUED: _("being sent"),
        Outcome.SENT: _("sent, awaiting result"), Outcome.DELIVERED: _("delivered"),
        Outcome.NOT_SUBSCRIBED: _("not subscribed (not delivered)"), Outcome.FAILED: _("failed"),
        Outcome.REJECTED: _("rejected"), Outcome.CANCELLED: _("cancelled (not sent)"),
    }


OUTCOME_ORDER = (Outcome.DELIVERED, Outcome.NOT_SUBSCRIBED, Outcome.FAILED, Outcome.REJECTED, Outcome.CANCELLED,
                 Outcome.SENT,
                 Outcome.QUEUED, Outcome.PLANNED)


class SignInRequired(Exception):
    def __init__(self, next_url: str):
        self.next_url = next_url


def base(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def _render(request: Request, template: str, principal: Principal | None, status_code: int = 200, **context):
    context.update(request=request, base=base(request), principal=principal, outcome_labels=outcome_labels(),
                   limits=limits, max_bsns=MAX_BSNS_PER_CALL, max_send_at_days=MAX_SEND_AT_DAYS_AHEAD)
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def _same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise ApiError(403, "forbidden", _("This form was posted from another site; open the page again and retry."))


def _principal(request: Request, conn, method: str = "GET", *, personal: bool = False) -> Principal:
    """The signed-in person; ``personal``: the page shows or changes personal content
    (sending, BSN lookup), which an auditor may not."""
    principal = page_principal(request, conn, method=method)
    language.settle(conn, principal)
    if principal is None:
        raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    if personal and not principal.personal_content:
        raise ApiError(403, "auditor_read_only",
                       _("Auditors read submissions, outcomes and reports; sending and BSN lookup are for "
                         "operators and tenant users."))
    return principal


def sign_in_redirect(request: Request, exc: SignInRequired) -> RedirectResponse:
    return RedirectResponse(f"{base(request)}/login?next={quote(exc.next_url)}", status_code=303)


# --------------------------------------------------------------------------- sign in / out


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = ""):
    return _render(request, "login.html", None, next=next, error=None, username="")


def _safe_next(request: Request, target: str) -> str:
    root = base(request)
    if target.startswith(f"{root}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{root}/"


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, conn: ConnDep):
    form = await request.form()
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    target = str(form.get("next", ""))
    if password.startswith(api_keys.KEY_PREFIX) or username.startswith(api_keys.KEY_PREFIX):
        # an API key is for a system; people have their own account (issue 14)
        return _render(request, "login.html", None, status_code=401, next=target, username="",
                       error=_("That is an API key. API keys are for systems; people sign in with their own "
                               "user name and password. Ask your BBX operator for an account."))

    def check():
        person = users.authenticate(conn, username, password)
        token = users.start_session(conn, person) if person else None
        if person is None:
            users.sign_in_refused(conn, username)
        conn.commit()
        return token

    token = await run_in_threadpool(check)
    if token is None:
        return _render(request, "login.html", None, status_code=401, next=target, username=username,
                       error=_("Unknown user name or wrong password (or the account is disabled). Check them, "
                               "or ask your BBX operator."))
    response = RedirectResponse(_safe_next(request, target), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", path=base(request) or "/",
                        secure=request.url.scheme == "https", max_age=int(users.SESSION_LIFETIME.total_seconds()))
    return response


@router.post("/logout")
def logout(request: Request, conn: ConnDep):
    _same_origin(request)
    users.end_session(conn, request.cookies.get(SESSION_COOKIE, ""))
    conn.commit()
    response = RedirectResponse(f"{base(request)}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=base(request) or "/")
    return response


# --------------------------------------------------------------------------- home


@router.get("/", response_class=HTMLResponse)
def home(request: Request, conn: ConnDep):
    principal = _principal(request, conn)
    connections = service.visible_connections(conn, principal)
    for c in connections:
        c["types"] = service.message_types(conn, c["id"], active_only=True)
    certificates = certificate_watch.status(conn) if principal.is_operator else []
    return _render(request, "home.html", principal, connections=connections, certificates=certificates)


# --------------------------------------------------------------------------- manual send


def _send_options(conn, principal: Principal) -> list[dict]:
    groups = []
    for c in service.visible_connections(conn, principal):
        if not c["active"]:
            continue
        types = service.message_types(conn, c["id"], active_only=True)
        if types:
            groups.append({"connection": c, "types": types})
    return groups


def _send_page(request, conn, principal, *, status_code=200, values=None, problems=(), done=None, checks=None,
               check_note=None, preview=None, confirm=None, schedule=None):
    values = values or {}
    return _render(
        request, "send.html", principal, status_code=status_code, groups=_send_options(conn, principal),
        values=values, token=values.get("token") or uuid.uuid4().hex,
        problems=list(problems), field_problems={p.field: p for p in reversed(problems) if p.field},
        done=done, checks=checks, check_note=check_note, preview=preview, confirm=confirm, schedule=schedule,
        forecast=control_pages.submission_forecast(conn, done) if done else None,
    )


@router.get("/send", response_class=HTMLResponse)
def send_form(request: Request, conn: ConnDep, done: int | None = None, type: str = ""):
    principal = _principal(request, conn, personal=True)
    finished = None
    if done is not None:
        try:
            finished = service.submission_status(conn, service.submission_for(conn, principal, done))
        except ApiError:
            finished = None
    return _send_page(request, conn, principal, values={"message_type": type}, done=finished)


def split_bsns(text: str) -> list[str]:
    """BSNs typed in a box: one per line, or separated by commas or semicolons."""
    return [v.strip() for v in text.replace(";", "\n").replace(",", "\n").splitlines() if v.strip()]


def _quick_check(connection: dict, message_type: dict, bsns: list[str]) -> tuple[dict[str, bool] | None, str]:
    """MijnOverheid's ValidateAbonnementen, when the connection's Airflow Connection is configured."""
    if len(bsns) > limits.MAX_BSNS_PER_VALIDATE_CALL:
        return None, _("The quick check at MijnOverheid takes at most {max} BSNs; only BBX's register was checked.",
                       max=limits.MAX_BSNS_PER_VALIDATE_CALL)
    try:
        from bbx.hooks.berichtenbox import BerichtenboxHook

        hook = BerichtenboxHook.for_connection(connection["code"])
        answer = hook.validate_abonnementen(sender_code=connection["sender_code"],
                                            message_type_code=message_type["code"], bsns=bsns)
        return answer, _("Checked at MijnOverheid just now (ValidateAbonnementen).")
    except Exception as exc:  # not configured, unreachable, refused: the page says so
        log.info("quick check unavailable for %s: %s", connection["code"], type(exc).__name__)
        reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        return None, _("The quick check at MijnOverheid is not available for this connection ({reason}); "
                       "only BBX's register was checked.", reason=reason)


@router.post("/send", response_class=HTMLResponse)
async def send(request: Request, conn: ConnDep):
    _same_origin(request)
    form = await request.form(max_files=5, max_fields=20)
    values = {k: str(form.get(k, "")) for k in ("message_type", "text", "reference", "bsns", "token", "action",
                                                 "values", "confirmed", "send_at", "publication_date")}
    uploads = []
    for item in form.getlist("pdfs"):
        if isinstance(item, UploadFile) and item.filename:
            uploads.append(sending.Upload(item.filename, await item.read()))

    def work():
        principal = _principal(request, conn, method="POST", personal=True)
        connection = message_type = None
        code, _sep, type_code = values["message_type"].partition("/")
        problems: list[ApiError] = []
        try:
            if not code or not type_code:
                raise ApiError(422, "message_type_missing", _("Choose a message type."), field="message_type")
            connection = service.connection_for(conn, principal, code)
            filled_in, problems = page_letters.parse_values(values["values"])
            if problems:
                raise ApiErrors(problems)
            req = page_letters.send_request(type_code, split_bsns(values["bsns"]), values["text"] or None,
                                            values["reference"] or None, tuple(uploads), filled_in)
            prepared = sending.prepare(conn, connection, req)
            message_type = prepared.message_type
        except ApiErrors as exc:
            problems = exc.problems
        except ApiError as exc:
            problems = [exc]
        schedule, schedule_problems = page_letters.schedule(conn, connection, values["token"], values["send_at"],
                                                            values["publication_date"])
        problems += schedule_problems
        if problems and connection is not None and values["action"] != "check":
            conn.rollback()
            audit_views.hand_in_refused(conn, principal, connection, "manual", ApiErrors(problems))
        if problems:
            if uploads:
                problems.append(ApiError(422, "choose_pdfs_again", _("Choose the PDFs again (browsers do not keep "
                                         "them after a check)."), field="attachments"))
            return _send_page(request, conn, principal, status_code=problems[0].status, values=values,
                              problems=problems)
        if values["action"] == "preview":
            return _send_page(request, conn, principal, values=values, preview=page_letters.preview(prepared))
        if values["action"] == "check":
            bsns = [r.bsn for r in prepared.rows]
            today = service.today()
            answer, note = _quick_check(connection, message_type, bsns)
            checks = [{"bsn": b, "register": register.is_subscribed(conn, connection["id"], b, today),
                       "mijnoverheid": None if answer is None else answer.get(b)} for b in bsns]
            if uploads:
                note += " " + _("Choose the PDFs again before sending.")
            return _send_page(request, conn, principal, values=values, checks=checks, check_note=note)
        if len(prepared.rows) > control_pages.confirm_above() and values["confirmed"] != str(len(prepared.rows)):
            bsns = [r.bsn for r in prepared.rows]  # a large send: say what will happen, ask to confirm
            return _send_page(request, conn, principal, values=values, schedule=schedule,
                              confirm={"count": len(bsns), "pdfs": bool(uploads), **control_pages.forecast(conn, connection["id"], bsns)})
        if not values["token"]:
            values["token"] = uuid.uuid4().hex
        try:
            handed = sending.hand_in(conn, prepared, channel="manual", external_ref=values["token"],
                                     actor=principal.actor, schedule=schedule)
        except ApiError as exc:  # this form was sent before, with other content
            conn.rollback()
            values["token"] = ""
            return _send_page(request, conn, principal, status_code=exc.status, values=values, problems=[exc])
        conn.commit()
        if handed.created and schedule.send_at is None:  # delivery at once, not on bbx_deliver's timer
            trigger.delivery_requested(handed.submission_id, prepared.connection["code"], "manual")
        return RedirectResponse(f"{base(request)}/send?done={handed.submission_id}"
                                f"&type={quote(values['message_type'])}", status_code=303)

    try:
        return await run_in_threadpool(work)
    except SignInRequired as exc:
        return sign_in_redirect(request, exc)


# --------------------------------------------------------------------------- submissions


@router.get("/submissions", response_class=HTMLResponse)
def submissions_page(request: Request, conn: ConnDep, connection: str = "",
                     start: date | None = None, end: date | None = None):
    principal = _principal(request, conn)
    default_start, default_end = service.default_period()
    start, end = start or default_start, end or default_end
    error = None
    try:
        entries = service.submission_list(conn, principal, connection or None, start, end, 500)
    except ApiError as exc:
        entries, error = [], exc
    return _render(request, "submissions.html", principal, entries=entries, start=start, end=end,
                   connection=connection, connections=service.visible_connections(conn, principal), error=error)


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def submission_page(submission_id: int, request: Request, conn: ConnDep, cancelled: int | None = None,
                    not_cancelled: int | None = None):
    principal = _principal(request, conn)
    try:
        sub = service.submission_for(conn, principal, submission_id)
    except ApiError as exc:
        return _render(request, "error.html", principal, status_code=404, error=exc)
    status = service.submission_status(conn, sub)
    rows = lookup.submission_rows(conn, sub["id"], limit=1000)
    if not principal.personal_content:  # auditors: outcomes, not who
        rows = [{**r, "bsn": bsn_rules.mask(r["bsn"]) if r["bsn"] else None, "reference": None,
                 "outcome_reason": bsn_rules.mask_text(r["outcome_reason"] or "")} for r in rows]
    labels = outcome_labels()
    chart = charts.stacked_bars(
        _("Outcomes of submission {id}", id=sub["id"]),
        [(_("rows"), [status["counts"][o] for o in OUTCOME_ORDER])],
        [labels[o] for o in OUTCOME_ORDER], [charts.OUTCOME_COLOURS[o] for o in OUTCOME_ORDER],
    )
    return _render(request, "submission.html", principal, status=status, rows=rows, chart=chart,
                   more=(status["rows_handed_in"] or 0) > len(rows), cancellable=control_pages.cancellable(status),
                   cancel_answer=None if cancelled is None else {"cancelled": cancelled,
                                                                 "not_cancelled": not_cancelled or 0})


def not_found_page(request: Request) -> Response:
    return HTMLResponse(
        TEMPLATES.get_template("error.html").render(
            request=request, base=base(request), principal=None, outcome_labels=outcome_labels(),
            error=ApiError(404, "not_found", _("There is no BBX page at this address.")),
        ),
        status_code=404,
    )
