"""Sending through the web service and the manual page: check a request, then hand it in.

Both channels end in :mod:`bbx.store.submissions` (``open_submission`` → ``record_files``
→ ``add_rows`` → ``accept``), in one transaction; delivery picks accepted submissions up
like any other. Nothing is sent from here.

The checks use the domain rules (``bbx.domain``: BSN 11-test, contract limits, PDF
inspection and attachment composition). A request with any problem is refused as a
whole, every problem listed (each bad BSN with its position), and nothing is created:
the tenant fixes the request and sends it again (the same idempotency key may be
reused, since nothing was stored under it).

One rule is applied per row rather than to the whole request: a BSN already handed in for the
same message type (through any channel, planned, on its way or delivered) is not sent
again; its row is recorded as rejected with the reason, and the rest goes ahead.

Idempotency: the channel's ``external_ref`` (the web service's ``Idempotency-Key``, the
manual page's form token) identifies the hand-in. The SHA-256 of the canonical request
is kept as the submission's file ``request.json`` (the content itself is not stored):
the same key with the same request returns the first submission; the same key with a
different request is refused (409), and so is the same body with another schedule
(``send_at`` / ``publication_date``, compared as they were asked: ``schedule.repeats``).

Over ~400 lines on purpose: one request's whole path from checks to hand-in, shared by the
web service and the manual page (the row rules themselves are ``bbx.domain.rows``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field

from bbx.api.errors import ApiError, ApiErrors
from bbx.api.limits import MAX_BSNS_PER_CALL
from bbx.domain import attachments as pdfs
from bbx.domain import bsn as bsn_rules
from bbx.domain import limits, templates
from bbx.domain import rows as row_rules
from bbx.domain import schedule as schedule_rules
from bbx.i18n import _, number
from bbx.store import handins, submissions
from bbx.store import schedule as schedule_store

log = logging.getLogger(__name__)

REQUEST_FILE = "request.json"  # the submission file that records the request's hash
_ATTACHMENT_NAME = re.compile(r"(?P<bsn>[0-9]{8,9})_(?P<n>[12])\.pdf", re.IGNORECASE)


@dataclass(frozen=True)
class Upload:
    """A PDF held in memory (the manual page). A streamed web-service request holds its
    PDFs encrypted on disk instead (:class:`bbx.api.streamed.SpooledUpload`, the same interface)."""

    file_name: str
    content: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def size(self) -> int:
        return len(self.content)

    def inspect(self) -> pdfs.PdfInfo | pdfs.PdfProblem:
        return pdfs.inspect_pdf(self.content)

    def read(self) -> bytes:
        return self.content

    encrypted = None  # no stored token: bbx.store.submissions encrypts the content


@dataclass(frozen=True)
class Personal:
    """One citizen's letter of a request with ``messages`` (values as given)."""

    bsn: str
    text: str | None = field(default=None, repr=False)
    subject: str | None = field(default=None, repr=False)
    reference: str | None = None
    values: dict[str, str] | None = field(default=None, repr=False)  # for a template standard text


@dataclass(frozen=True)
class SendRequest:
    message_type: str
    bsns: list[str] = field(repr=False)  # as given
    text: str | None = field(default=None, repr=False)  # None: the message type's standard text
    reference: str | None = None
    uploads: tuple[Upload, ...] = ()
    # False (web service): each PDF is named <BSN>_<1|2>.pdf and goes to that BSN only.
    # True (manual page): the 0-2 uploaded PDFs go with the message to every BSN given.
    uploads_for_every_bsn: bool = False
    # personal letters instead of ``bsns`` (then ``text``/``reference`` are their defaults)
    messages: tuple[Personal, ...] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Prepared:
    connection: dict
    message_type: dict
    rows: list[submissions.NewRow] = field(repr=False)
    request_sha256: str
    request_size: int
    uploads: tuple[Upload, ...]


@dataclass(frozen=True)
class Handed:
    submission_id: int
    created: bool  # False: the same request was handed in before under this key


def _problem(code: str, message: str, *, field: str | None = None, details=None, status: int = 422) -> ApiError:
    return ApiError(status, code, message, field=field, details=details)


# --------------------------------------------------------------------------- checks


_MESSAGE_TYPE_CODES = {"unknown": "unknown_message_type", "inactive": "message_type_inactive"}


def message_type_of(conn, connection: dict, code: str) -> dict:
    """The usable message type ``code``, or the API error (the wording of every channel)."""
    row, problem = handins.usable_message_type(conn, connection, code)
    if problem is not None:
        raise _problem(_MESSAGE_TYPE_CODES[problem.code], row_rules.sentence(problem.message), field="message_type")
    return row


def _rule_problem(problem: row_rules.Problem) -> ApiError:
    return _problem(f"{problem.field}_{problem.code}", row_rules.sentence(problem.message), field=problem.field)


def check_text(text: str | None, message_type: dict, *, has_pdfs: bool) -> tuple[str | None, list[ApiError]]:
    """(the text as stored and sent, problems): the row rule of every channel
    (:mod:`bbx.domain.rows`); an explicit empty text is refused (leave it out instead)."""
    if text is None:
        if message_type["standard_text"] is None and not has_pdfs:
            return None, [_rule_problem(row_rules.content_needed(message_type["code"]))]
        return None, []
    if not text.strip():
        return None, [_problem("text_empty", _("The text is empty: leave it out to use the standard text, or "
                                               "write one."), field="text")]
    cleaned = row_rules.text(text)
    return cleaned.value, [_rule_problem(cleaned.problem)] if cleaned.problem else []


def check_reference(reference: str | None) -> tuple[str | None, list[ApiError]]:
    """(the reference as stored and sent, problems): the row rule of every channel."""
    cleaned = row_rules.reference(reference)
    return cleaned.value, [_rule_problem(cleaned.problem)] if cleaned.problem else []


def check_bsns(raw: list[str]) -> tuple[list[str], list[ApiError]]:
    """Normalised BSNs in the given order, or the problems (each bad entry with its position)."""
    if not raw:
        return [], [_problem("bsns_empty", _("No BSNs given: give at least one."), field="bsns")]
    if len(raw) > MAX_BSNS_PER_CALL:
        return [], [_problem(
            "too_many_bsns",
            _("{n} BSNs in one request; at most {max} are accepted per call. Split the list over several "
              "requests (each with its own idempotency key), or use the SFTP channel for large lists.",
              n=number(len(raw)), max=number(MAX_BSNS_PER_CALL)), field="bsns")]
    normalised: list[str] = []
    details = []
    first_seen: dict[str, int] = {}
    for position, value in enumerate(raw, start=1):
        result = bsn_rules.check(value)
        if result.error:
            details.append({"position": position, "value": bsn_rules.mask(str(value)[:20]), "reason": result.error})
            continue
        if result.bsn in first_seen:
            details.append({"position": position, "value": bsn_rules.mask(result.bsn),
                            "reason": _("the same BSN as position {first}; give each BSN once per request",
                                        first=first_seen[result.bsn])})
            continue
        first_seen[result.bsn] = position
        normalised.append(result.bsn)
    if details:
        shown = ", ".join(str(d["position"]) for d in details[:10])
        if len(details) > 10:
            shown = _("{shown} and {n} more", shown=shown, n=len(details) - 10)
        return [], [_problem(
            "invalid_bsns",
            _("{n} of the {total} BSNs are not valid (positions {positions}, counting from 1); nothing was sent. "
              "Correct or remove them and send the request again.", n=number(len(details)), total=number(len(raw)),
              positions=shown),
            field="bsns", details=details)]
    return normalised, []


def check_uploads(conn, req: SendRequest, message_type: dict, bsns: list[str], pdfa: str = "warn"
                  ) -> tuple[dict[str, list[Upload]], list[ApiError]]:
    """PDFs per BSN (in Volgorde order), or the problems. ``pdfa``: the connection's policy
    for PDFs that are not PDF/A ("strict" refuses them)."""
    if not req.uploads:
        return {}, []
    problems: list[ApiError] = []
    tally = pdfs.PdfaTally(pdfa)
    for upload in req.uploads:
        result = upload.inspect()
        if not result.ok:
            problems.append(_problem("invalid_attachment", f"{upload.file_name}: {result.reason}.",
                                     field="attachments", details=[{"file_name": upload.file_name,
                                                                    "reason": result.reason}]))
        elif refusal := tally.check(upload.file_name, result):
            problems.append(_problem("attachment_not_pdfa", f"{upload.file_name}: {refusal}.",
                                     field="attachments", details=[{"file_name": upload.file_name,
                                                                    "reason": refusal}]))
    per_bsn: dict[str, list[Upload]] = {}
    if req.uploads_for_every_bsn:
        if len(req.uploads) > limits.MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE:
            problems.append(_problem(
                "too_many_attachments",
                _("{n} PDFs; at most {max} personal PDFs go with one message.", n=len(req.uploads),
                  max=limits.MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE), field="attachments"))
        ordered = list(req.uploads)
        per_bsn = {b: ordered for b in bsns}
    else:
        wanted = set(bsns)
        slots: dict[str, dict[int, Upload]] = {}
        bad_names = []
        for upload in req.uploads:
            match = _ATTACHMENT_NAME.fullmatch(upload.file_name)
            if match is None:
                bad_names.append({"file_name": upload.file_name,
                                  "reason": _("name it <BSN>_1.pdf or <BSN>_2.pdf")})
                continue
            owner = bsn_rules.check(match.group("bsn"))
            if owner.error or owner.bsn not in wanted:
                bad_names.append({"file_name": upload.file_name,
                                  "reason": _("the BSN in the file name is not in this request's list of BSNs")})
                continue
            number = int(match.group("n"))
            if number in slots.setdefault(owner.bsn, {}):
                bad_names.append({"file_name": upload.file_name,
                                  "reason": _("a second PDF number {number} for the same BSN", number=number)})
                continue
            slots[owner.bsn][number] = upload
        if bad_names:
            problems.append(_problem(
                "attachment_unmatched",
                _("{n} PDF(s) cannot be matched to a BSN of this request: see details.", n=len(bad_names)),
                field="attachments", details=bad_names))
        per_bsn = {b: [slot[n] for n in sorted(slot)] for b, slot in slots.items()}
    if problems:
        return {}, problems
    standard = handins.standard_set(conn, message_type["id"])
    checked: dict[tuple[str, ...], str | None] = {}
    too_large = []
    for bsn, uploads in per_bsn.items():
        key = tuple(u.sha256 for u in uploads)
        if key not in checked:
            composed = pdfs.compose(standard, [pdfs.SourcePdf(pdfs.DEFAULT_DESCRIPTION, u.read()) for u in uploads])
            checked[key] = None if composed.ok else composed.reason
        if checked[key]:
            too_large.append({"bsn": bsn_rules.mask(bsn), "files": [u.file_name for u in uploads],
                              "reason": checked[key]})
    if too_large:
        first = too_large[0]["reason"]
        return {}, [_problem("attachments_too_large",
                             _("The PDFs of {n} message(s) do not fit: {reason}", n=len(too_large), reason=first),
                             field="attachments", details=too_large)]
    return per_bsn, []


# --------------------------------------------------------------------------- prepare, hand in


def _pdf_owners(uploads: tuple[Upload, ...]) -> set[str]:
    """The BSNs that PDFs are named after, as written and normalised (valid PDF or not)."""
    owners = set()
    for upload in uploads:
        if match := _ATTACHMENT_NAME.fullmatch(upload.file_name):
            owners.add(match.group("bsn"))
            if (owner := bsn_rules.check(match.group("bsn"))).bsn:
                owners.add(owner.bsn)
    return owners


def check_messages(messages: tuple[Personal, ...], message_type: dict, uploads: tuple[Upload, ...],
                   default_text: str | None, default_reference: str | None
                   ) -> tuple[list[tuple[str | None, str | None, str | None]], list[ApiError]]:
    """(text, subject, reference) per message as stored and sent, or the problems: each
    message's values under the row rules of every channel (:mod:`bbx.domain.rows`, as a
    row of an SFTP drop's list: an empty value is "not given"), each with its position.
    A PDF named after the message's BSN counts as content, as on SFTP, even if the PDF
    itself is refused (that is reported as its own problem)."""
    values, details = [], []
    owners = _pdf_owners(uploads)
    for position, message in enumerate(messages, start=1):
        checked = bsn_rules.check(message.bsn)
        bsn = checked.bsn if not checked.error else None
        cleaned = (row_rules.text(message.text), row_rules.subject(message.subject),
                   row_rules.reference(message.reference))
        reasons = [c.problem for c in cleaned if c.problem]
        text = cleaned[0].value if cleaned[0].value is not None else default_text
        reference = cleaned[2].value if cleaned[2].value is not None else default_reference
        if not cleaned[0].problem:  # a template standard text: filled in with the message's values
            filled = templates.for_row(message_type["standard_text"], text, bsn,
                                       templates.GivenValues(message.values or {}))
            if filled is not None:
                reasons += filled.problems
                text = filled.text
        given = bool(message.text and message.text.strip())  # a text given but refused: that is the reason
        pdf_given = bsn in owners or str(message.bsn).strip() in owners
        if text is None and not given and message_type["standard_text"] is None and not pdf_given:
            reasons.append(row_rules.content_needed(message_type["code"]))
        details += [{"position": position, "bsn": bsn_rules.mask(bsn or str(message.bsn)[:20]), "field": p.field,
                     "code": p.code, "reason": p.message} for p in reasons]
        values.append((text, cleaned[1].value, reference))
    if not details:
        return values, []
    positions = sorted({d["position"] for d in details})
    shown = ", ".join(str(p) for p in positions[:10]) + (_(" and {n} more", n=len(positions) - 10)
                                                          if len(positions) > 10 else "")
    return [], [_problem("invalid_messages", _(
        "{bad} of the {total} messages cannot be sent as given (positions {shown}, counting from 1): see details; "
        "nothing was sent. Correct them and send the request again.",
        bad=len(positions), total=len(messages), shown=shown), field="messages", details=details)]


def check_sandbox() -> None:
    """A *test* key's hand-in needs the deployment's sandbox (``bbx_berichtenbox_sandbox``):
    without one it is refused now, with a 409, rather than accepted and held forever. The
    tenant is told what to do; the operator's log says what is missing."""
    from bbx.hooks.berichtenbox import BerichtenboxHook

    if (problem := BerichtenboxHook.sandbox_problem()) is None:
        return
    log.warning("a test key's hand-in was refused: no usable sandbox (%s)", problem)
    raise _problem("sandbox_not_configured", _(
        "This is a test API key: its messages go to a sandbox, never to MijnOverheid, and this BBX has no sandbox "
        "configured. Nothing was handed in. Ask your BBX operator to configure the sandbox, or use a live key to "
        "send for real."), status=409)


def prepare(conn, connection: dict, req: SendRequest) -> Prepared:
    """Check everything; raise :class:`ApiErrors` listing every problem, or return the rows."""
    if problem := handins.connection_problem(connection):
        raise _problem("connection_inactive", row_rules.sentence(problem.message), status=409)
    message_type = message_type_of(conn, connection, req.message_type)
    personal = req.messages is not None
    # with messages, the request's text is a default: a message type without standard text
    # is checked per message (a PDF or its own text may be enough)
    text, problems = check_text(req.text, message_type, has_pdfs=bool(req.uploads) or personal)
    reference, reference_problems = check_reference(req.reference)
    problems += reference_problems
    bsns, bsn_problems = check_bsns([m.bsn for m in req.messages] if personal else req.bsns)
    problems += bsn_problems
    per_bsn: dict[str, list[Upload]] = {}
    values = [(text, None, reference)] * len(bsns)
    if not bsn_problems:
        per_bsn, upload_problems = check_uploads(conn, req, message_type, bsns, pdfa=connection["pdfa"])
        problems += upload_problems
    if personal:
        values, message_problems = check_messages(req.messages, message_type, req.uploads, text, reference)
        problems += message_problems
    if not personal and text is None and templates.is_template(message_type["standard_text"]):
        # one text for every BSN cannot fill a template in: values are per citizen
        problems += [_rule_problem(p) for p in templates.fill(message_type["standard_text"], {}).problems]
    if problems:
        raise ApiErrors(problems)

    request = {"connection": connection["code"], "message_type": message_type["code"], "bsns": bsns,
               "text": req.text, "reference": req.reference,
               "attachments": {b: [u.sha256 for u in ups] for b, ups in sorted(per_bsn.items())}}
    if personal:
        request["messages"] = [[m.text, m.subject, m.reference, m.values] for m in req.messages]
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    rows = [
        submissions.NewRow(
            row_number=i, bsn=bsn, text=row_text, subject=row_subject, reference=row_reference,
            attachments=tuple(
                submissions.PersonalAttachment(pos, u.file_name, b"", u.sha256, size=u.size, read=u.read,
                                               encrypted=u.encrypted)
                for pos, u in enumerate(per_bsn.get(bsn, ()), start=1)
            ),
        )
        for i, (bsn, (row_text, row_subject, row_reference)) in enumerate(zip(bsns, values, strict=True), start=1)
    ]
    return Prepared(connection, message_type, rows, hashlib.sha256(canonical).hexdigest(), len(canonical),
                    tuple(req.uploads))


def _without_earlier_hand_ins(conn, prepared: Prepared, submission_id: int, sandbox: bool) -> list[submissions.NewRow]:
    """The rule of every channel (the SFTP intake applies it too): a BSN already handed in
    for this message type (planned, on its way or delivered) is not sent again; its row is
    kept as rejected with the reason. Serialised per message type until commit."""
    type_code = prepared.message_type["code"]
    handins.lock_message_type(conn, prepared.message_type["id"])
    earlier = handins.handed_in_earlier(
        conn, connection_id=prepared.connection["id"], message_type_id=prepared.message_type["id"],
        submission_id=submission_id, bsns=[r.bsn for r in prepared.rows], sandbox=sandbox,
    )
    if not earlier:
        return prepared.rows
    return [
        submissions.NewRow(row_number=r.row_number, bsn=r.bsn, rejection=(
            _("already handed in for message type {type} in {where}: it is not sent again", type=type_code,
              where=earlier[r.bsn].text())))
        if r.bsn in earlier else r
        for r in prepared.rows
    ]


def schedule_problem(exc: schedule_rules.ScheduleError) -> ApiError:
    """A schedule ``bbx.domain.schedule`` refused, as the web service and the page answer it."""
    return _problem("invalid_schedule", str(exc), field=exc.field)


def schedule_for(conn, connection: dict, *, channel: str, external_ref: str | None, sandbox: bool = False,
                 check=schedule_rules.check, **asked) -> schedule_rules.Schedule:
    """The asked schedule, checked as at the first hand-in under this key (a retry days later
    of a publication_date that has passed since is still the same request: it replays, or is
    refused as another schedule by :func:`_same_schedule`); a new key: as now. ``check``:
    :func:`schedule_rules.check` or, for text, :func:`schedule_rules.from_text` (``asked``
    are its arguments)."""
    first = None if not external_ref else submissions.first_received_at(
        conn, connection_id=connection["id"], channel=channel, external_ref=external_ref, sandbox=sandbox)
    return check(**asked, now=first)


def _same_schedule(submission_id: int, earlier: dict, schedule: schedule_rules.Schedule) -> None:
    """A repeated request with the same body but another send_at or publication_date is not
    the same request: refused like another body (409), saying what was scheduled."""
    stored = schedule_rules.Schedule(earlier["send_at"], earlier["publication_date"])
    if schedule_rules.repeats(schedule, stored, handed_in_at=earlier["received_at"]):
        return
    send_at = stored.send_at.isoformat() if stored.send_at else None
    day = stored.publication_date.isoformat() if stored.publication_date else None
    same_send_at = stored.send_at == (schedule.asked_send_at or schedule.send_at)
    raise ApiError(
        409, "idempotency_key_reused",
        _("This idempotency key was already used for submission {id} with another schedule (send_at {send_at}, "
          "publication_date {day}). Use a new key for a new request; repeat a request only unchanged.",
          id=submission_id, send_at=send_at or _("none: at once"), day=day or _("none: at once")),
        field="publication_date" if same_send_at and stored.publication_date != schedule.publication_date
        else "send_at",
        details=[{"submission_id": submission_id, "send_at": send_at, "publication_date": day}],
    )


def hand_in(conn, prepared: Prepared, *, channel: str, external_ref: str, actor: str,
            schedule: schedule_rules.Schedule = schedule_rules.NOW, sandbox: bool = False) -> Handed:
    """Write the submission and its rows (call inside the request's transaction; commit after).
    ``schedule`` is set in the same transaction that accepts it: no run takes it before its time.
    ``sandbox``: a *test* key's hand-in, delivered to the sandbox and never to MijnOverheid."""
    connection = prepared.connection
    sub = submissions.open_submission(
        conn, connection_id=connection["id"], channel=channel, external_ref=external_ref,
        submitted_by=actor, message_type_id=prepared.message_type["id"], sandbox=sandbox,
    )
    if not sub.created:
        from bbx.store import lookup

        earlier = lookup.submission_file_sha256(conn, sub.id, REQUEST_FILE)
        if earlier != prepared.request_sha256:
            raise ApiError(
                409, "idempotency_key_reused",
                _("This idempotency key was already used for submission {id} with a different request. "
                  "Use a new key for a new request; repeat a request only unchanged.", id=sub.id),
                details=[{"submission_id": sub.id}],
            )
        _same_schedule(sub.id, lookup.submission(conn, sub.id), schedule)
        return Handed(sub.id, False)
    files = [(REQUEST_FILE, "request", prepared.request_size, prepared.request_sha256)]
    seen = {REQUEST_FILE}
    for upload in prepared.uploads:
        name = upload.file_name if upload.file_name not in seen else f"{len(seen)}-{upload.file_name}"
        seen.add(name)
        files.append((name, "personal_attachment", upload.size, upload.sha256))
    submissions.record_files(conn, sub.id, files)
    rows = _without_earlier_hand_ins(conn, prepared, sub.id, sandbox)
    submissions.add_rows(conn, sub.id, connection_code=connection["code"], connection_id=connection["id"],
                         message_type_id=prepared.message_type["id"], rows=rows,
                         standard_text_version_id=prepared.message_type["standard_text_version_id"])
    schedule_store.set_schedule(conn, sub.id, schedule, actor=actor)
    submissions.accept(conn, sub.id, rows_handed_in=len(prepared.rows), actor=actor)
    return Handed(sub.id, True)
