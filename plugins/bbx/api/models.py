"""Request and response shapes of web service v1 (they make the OpenAPI description)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bbx.api.limits import MAX_BSNS_PER_CALL
from bbx.domain import limits
from bbx.domain.schedule import MAX_SEND_AT_DAYS_AHEAD

# fields a row of a submission and a message of a BSN lookup share
PurgedAt = Annotated[datetime | None, Field(description="when the personal text and PDFs were removed after the "
                                                        "retention period (null: still kept)")]
PlannedTextVersion = Annotated[int | None, Field(description="the version of the message type's standard text "
                                                             "this message was planned with (GET .../message-types/"
                                                             "{code}/standard-text shows its text); null for a "
                                                             "rejected row")]


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, stable; see docs/api.md for the list")
    message: str = Field(description="for people: what is wrong and what to do")
    field: str | None = Field(None, description="the request field it is about, when there is one")
    details: list[Any] | None = Field(None, description="per-item problems, e.g. each bad BSN with its position")


class ErrorBody(BaseModel):
    error: ErrorDetail
    errors: list[ErrorDetail] | None = Field(None, description="every problem, when there are several")


class PersonalMessage(BaseModel):
    """One citizen's letter: the same columns as a row of an SFTP drop's list."""

    model_config = ConfigDict(extra="forbid")

    bsn: str = Field(description="the citizen's BSN (the same rules as in `bsns`)")
    text: str | None = Field(None, description="this citizen's text; empty or left out: the request's `text`, "
                                               "else the message type's standard text")
    subject: str | None = Field(None, description=f"this citizen's subject (at most {limits.MAX_SUBJECT_CHARS} "
                                                  "characters, one line); left out: the message type's subject")
    reference: str | None = Field(None, description="this citizen's reference; left out: the request's `reference`")
    values: dict[str, str] | None = Field(None, description="values for the placeholders of the message type's "
                                                            "standard text, e.g. {\"naam\": \"J. Jansen\", "
                                                            "\"heeft_partner\": \"ja\"} (docs/api.md, Fill-in "
                                                            "templates); only for a message without its own text")


class SendBody(BaseModel):
    """A message of one message type to a list of BSNs, or personal letters (``messages``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"message_type": "PASPRT", "bsns": ["249566758", "123456782"], "reference": "campagne mei"},
        {"message_type": "WOZ2026", "reference": "WOZ 2026",
         "messages": [{"bsn": "249566758", "text": "Beste mevrouw Jansen, ...", "reference": "aanslag 81723"}]}]})

    message_type: str = Field(description="code of a message type of this connection (GET /connections/{code})")
    bsns: list[str] | None = Field(None, description=f"1 to {MAX_BSNS_PER_CALL:,} BSNs as strings of 9 digits (8 "
                                                     "digits: the leading zero is restored when that passes the "
                                                     "11-test); each BSN once. One invalid entry refuses the whole "
                                                     "request (422 invalid_bsns). Give either `bsns` or `messages`.")
    messages: list[PersonalMessage] | None = Field(
        None, description=f"personal letters instead of `bsns`: 1 to {MAX_BSNS_PER_CALL:,} citizens, each with "
                          "its own text, subject and reference (row_number = position, counting from 1). A problem "
                          "in any of them refuses the whole request (422 invalid_messages, each with its position). "
                          "For many or long texts send the request as multipart (streamed, no 10 MB limit).")
    text: str | None = Field(None, description=f"the message text (at most {limits.MAX_TEXT_CHARS} characters, "
                                               "line breaks count as 2); leave out to use the message type's "
                                               "standard text; required when the type has none. With `messages`: "
                                               "the text of each message that has none of its own")
    reference: str | None = Field(None, description=f"your reference, shown to the citizen "
                                                    f"(at most {limits.MAX_REFERENCE_CHARS} characters). With "
                                                    "`messages`: of each message that has none of its own")
    send_at: datetime | None = Field(None, description="send not before this moment (ISO 8601 with a time zone), "
                                                       f"at most {MAX_SEND_AT_DAYS_AHEAD} days ahead; leave out "
                                                       "to send at once. Cancel it until it starts.")
    publication_date: date | None = Field(None, description="the day the citizen sees the letter (PublicatieDatum): "
                                                            "from the send day to "
                                                            f"{limits.MAX_PUBLICATION_DAYS_AHEAD} days after it")


class LetterPreview(BaseModel):
    """One letter of a send request as it would be sent (nothing is handed in)."""

    rows: int = Field(description="the rows the request would hand in")
    row_number: int
    bsn: str
    subject: str = Field(description="the personal subject, or the message type's")
    text: str | None = Field(description="the text as sent: personal, filled-in template, or the standard text; "
                                         "null: the PDFs alone")
    reference: str | None
    attachments: list[str] = Field(description="the personal PDFs' file names (the message type's standard PDFs "
                                               "are added as described in docs/api.md)")
    rejection: str | None = Field(description="why this row would be recorded as rejected (already handed in), "
                                              "else null")


class LookupBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"bsn": "249566758"}]})

    bsn: str = Field(description="the BSN to look up (sent in the body, never in the URL, so it stays out of access logs)")
    connections: list[str] | None = Field(None, description="connection codes; default all of yours")


class StandardAttachment(BaseModel):
    position: int
    code: str
    description: str


class MessageType(BaseModel):
    code: str
    name: str
    subject: str
    active: bool
    has_standard_text: bool
    standard_text: str | None
    standard_attachments: list[StandardAttachment]


class StandardTextVersion(BaseModel):
    version: int
    text: str | None
    source: str  # config | sftp | api | rollback
    actor: str
    created_at: datetime
    sha256: str | None
    rolled_back_from: int | None = None


class StandardTextVersions(BaseModel):
    connection: str
    message_type: str
    current: int  # the version sent from now on (the newest)
    versions: list[StandardTextVersion]  # newest first


class Connection(BaseModel):
    code: str
    name: str
    tenant: str
    active: bool
    message_types: list[MessageType] | None = None


class ConnectionList(BaseModel):
    connections: list[Connection]


class SubmissionFile(BaseModel):
    file_name: str
    role: str
    size_bytes: int
    sha256: str


Outcome = Literal["planned", "queued", "sent", "not_subscribed", "delivered", "failed", "rejected", "cancelled"]


class Progress(BaseModel):
    handed_in: int = Field(description="rows handed in")
    in_batches: int = Field(description="messages put into a GLOBE batch so far")
    acknowledged: int = Field(description="messages in a batch the ebMS adapter acknowledged")
    final: int = Field(description="rows with a final outcome")
    percent: int = Field(description="final / handed in, 0-100")
    seconds_left: int | None = Field(description="estimate from the pace so far (null: no estimate yet)")
    stage: str = Field(description="waiting, scheduled, planning, sending, waiting_for_results, done")


class SubmissionStatus(BaseModel):
    id: int
    connection: str
    tenant: str
    message_type: str | None
    channel: Literal["sftp", "manual", "api"]
    sandbox: bool = Field(False, description="handed in with a test API key: delivered to the sandbox, never to "
                                             "MijnOverheid")
    external_ref: str | None = Field(description="the idempotency key (api), drop id (sftp) or form token (manual)")
    submitted_by: str
    received_at: datetime
    status: Literal["received", "rejected", "accepted", "delivering", "closed"]
    status_reason: str | None
    delivery_held: str | None = Field(None, description="why delivery waits (e.g. the register is stale)")
    rows_handed_in: int | None
    counts: dict[str, int] = Field(description="rows per outcome: planned, queued, sent, not_subscribed, "
                                               "delivered, failed, rejected, cancelled")
    final: int = Field(description="rows with a final outcome (rejected + not_subscribed + delivered + failed + cancelled)")
    reconciled: bool = Field(description="true when every row handed in has its final outcome")
    reconciliation: str | None = Field(description="the counts in words")
    closed_at: datetime | None
    send_at: datetime | None = Field(None, description="scheduled: not sent before this moment")
    publication_date: date | None = Field(None, description="scheduled: the day the citizen sees the letters "
                                                            "(PublicatieDatum)")
    cancel_requested_at: datetime | None = Field(None, description="when the submission was cancelled")
    cancelled_by: str | None = None
    progress: Progress | None = Field(None, description="handed in → in batches → acknowledged → final, "
                                                        "with an estimate of the time left")
    files: list[SubmissionFile]


class CancelAnswer(BaseModel):
    submission: int
    cancelled: int = Field(description="messages now final 'cancelled' by this request")
    not_cancelled: int = Field(description="messages already with MijnOverheid (or being sent at that moment): "
                                           "they cannot be recalled and get their own outcome")
    already_final: int = Field(description="rows that had a final outcome before")
    batches_cancelled: int
    closed: bool = Field(description="true when nothing of the submission is open any more")
    first_request: bool = Field(description="false: it had been cancelled before")
    explanation: str
    status: SubmissionStatus


class RowOutcome(BaseModel):
    row_number: int
    bsn: str | None
    message_id: str | None = Field(description="the BerichtID at MijnOverheid")
    outcome: Outcome
    outcome_code: str | None = Field(description="VerwerkingsCode from MijnOverheid, or BBX's reason code")
    outcome_reason: str | None
    reference: str | None
    attachments: int
    created_at: datetime
    sent_at: datetime | None
    final_at: datetime | None
    purged_at: PurgedAt = None
    standard_text_version: PlannedTextVersion = None


class RowPage(BaseModel):
    submission_id: int
    rows: list[RowOutcome]
    next_after_row: int | None = Field(description="pass as after_row for the next page; null: this was the last")


class RegisterPeriod(BaseModel):
    begin_date: date
    end_date: date | None = Field(description="the first day WITHOUT a subscription (exclusive); null: still subscribed")


class BsnMessage(BaseModel):
    submission_id: int
    channel: str
    sandbox: bool = Field(False, description="handed in with a test API key: delivered to the sandbox, never to "
                                             "MijnOverheid")
    received_at: datetime
    message_type: str | None
    message_type_name: str | None
    subject: str | None
    reference: str | None
    message_id: str | None
    outcome: Outcome
    outcome_code: str | None
    outcome_reason: str | None
    attachments: int
    created_at: datetime
    sent_at: datetime | None
    final_at: datetime | None
    purged_at: PurgedAt = None
    standard_text_version: PlannedTextVersion = None


class BsnConnection(BaseModel):
    connection: str
    name: str
    tenant: str
    subscribed_on: date
    subscribed: bool = Field(description="subscribed according to BBX's register on subscribed_on (today)")
    periods: list[RegisterPeriod]
    messages: list[BsnMessage] = Field(description="every message to this BSN, sent or not, newest first")


class BsnLookup(BaseModel):
    bsn: str
    on: date
    connections: list[BsnConnection]


class SubmissionLogEntry(BaseModel):
    id: int
    connection: str
    channel: str
    sandbox: bool = Field(False, description="handed in with a test API key: delivered to the sandbox, never to "
                                             "MijnOverheid")
    external_ref: str | None
    submitted_by: str
    received_at: datetime
    message_type: str | None
    status: str
    status_reason: str | None
    rows_handed_in: int | None
    closed_at: datetime | None
    counts: dict[str, int]
    files: list[SubmissionFile]
    kind: str = Field("messages", description="messages, or population: a population list (never sent)")


class SubmissionLog(BaseModel):
    start: date
    end: date
    submissions: list[SubmissionLogEntry]


class SubscribedReport(BaseModel):
    connection: str
    on: date
    count: int
    bsns: list[str] | None = None


class RegisterChangesReport(BaseModel):
    connection: str
    start: date
    end: date
    signups: int
    signoffs: int
    signup_bsns: list[str] | None = None
    signoff_bsns: list[str] | None = None


class SentRow(BaseModel):
    message_type: str
    name: str
    sent: int
    delivered: int
    not_subscribed: int
    failed: int
    awaiting_result: int


class SentReport(BaseModel):
    connection: str
    start: date
    end: date
    message_types: list[SentRow]


class UndeliveredRow(BaseModel):
    message_type: str
    name: str
    outcome: Literal["rejected", "not_subscribed", "failed"]
    code: str
    reason: str
    messages: int


class UndeliveredReport(BaseModel):
    connection: str
    start: date
    end: date
    rows: list[UndeliveredRow]
