"""Delivery rules that the other domain modules do not cover (pure, no I/O).

- :func:`size_bound`: an upper bound of one message's bytes in a GLOBE batch, known at
  planning time from stored sizes alone (no decryption), so batches are cut before any
  payload is built and the 100 MB limit can never be exceeded;
- :func:`plan_slices`: the delivery slices of one run over the batches of several
  submissions (a slice may span small submissions), never more than ``max_map_length``;
- the result file and the undeliverable list for the tenant (Excel-friendly CSV);
- the texts BBX writes into ``outcome_code`` / ``outcome_reason`` itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bbx.domain import csvfile
from bbx.domain.chunking import (
    DEFAULT_BATCHES_PER_SLICE,
    DEFAULT_MAX_MAP_LENGTH,
    delivery_slices,
)
from bbx.domain.limits import (
    MAX_ATTACHMENT_BYTES_PER_MESSAGE,
    MAX_ATTACHMENT_DESCRIPTION_CHARS,
    MAX_ATTACHMENTS_PER_MESSAGE,
    MAX_REFERENCE_CHARS,
    MAX_SUBJECT_CHARS,
    MAX_TEXT_CHARS,
)
from bbx.domain.localtime import TIMEZONE, TIMEZONE_NAME
from bbx.i18n import _

# --------------------------------------------------------------------------- codes BBX writes

NOT_IN_REGISTER = "NotInRegister"
NOT_IN_REGISTER_REASON = (
    "Not sent: the citizen was not subscribed to digital post from this sender on {day} "
    "(BSN register); send this letter on paper."
)
BUILD_REJECTED = "NotSendable"  # found invalid while its batch was built
REDELIVERY = "redelivery"

# Shown to the citizen for personal PDFs. Never derived from the file name: it holds the BSN.
PERSONAL_ATTACHMENT_DESCRIPTIONS = ("Uw brief", "Uw brief (vervolg)")

# --------------------------------------------------------------------------- transports

# Where a batch may go. A sandbox submission (handed in with a *test* API key) goes to the
# deployment's sandbox endpoint and never to MijnOverheid; a live one never to the sandbox
# (its letters would silently not reach the citizen). The senders check this at the last
# step before the transport, against the transport of the hook they are about to use.
LIVE = "live"
SANDBOX = "sandbox"


@dataclass(frozen=True)
class Route:
    """Which transport a connection's batches take (``Hooks.route``): the live adapter, or
    the sandbox speaking for the connection's ``cpa_id`` and ``oin``."""

    code: str  # the connection
    sandbox: bool = False
    cpa_id: str | None = None
    oin: str | None = None

    def __post_init__(self) -> None:
        if self.sandbox and not (self.cpa_id and self.oin):
            raise ValueError(f"connection {self.code}: the sandbox speaks for a cpa_id and an oin")

    @classmethod
    def of(cls, row: Mapping) -> Route:
        """From a store row with ``connection_code`` (a batch) or ``code`` (a connection),
        ``sandbox``, ``cpa_id`` and ``oin``."""
        return cls(row.get("connection_code") or row["code"], bool(row["sandbox"]), row.get("cpa_id"), row.get("oin"))


class WrongTransport(RuntimeError):
    """A batch was about to go through the wrong transport: nothing was sent."""


def transport_for(*, sandbox: bool) -> str:
    """The transport a submission's batches take."""
    return SANDBOX if sandbox else LIVE


def check_transport(*, sandbox: bool, transport: str, batch_id: str) -> None:
    """The one rule "may this batch reach this transport": raises :class:`WrongTransport`
    unless ``transport`` is the submission's own."""
    wanted = transport_for(sandbox=sandbox)
    if transport != wanted:
        raise WrongTransport(f"batch {batch_id} belongs to a {wanted} submission and was about to go through the "
                             f"{transport} transport: not sent")


# --------------------------------------------------------------------------- sizes

# Bytes of a Bericht without attachments, at most: every character of the text,
# subject and reference escaped to its longest form ("&amp;" / 4-byte UTF-8 / "&#13;\n"
# for a line break), plus the fixed elements (ids, BSN, dates, tags: under 1 kB).
_ESCAPED = 5
_FIXED_MESSAGE_BYTES = 1024
MESSAGE_WITHOUT_ATTACHMENTS_MAX_BYTES = (
    _FIXED_MESSAGE_BYTES + _ESCAPED * (MAX_TEXT_CHARS * 2 + MAX_SUBJECT_CHARS + MAX_REFERENCE_CHARS)
)
_ATTACHMENT_OVERHEAD = 256 + _ESCAPED * MAX_ATTACHMENT_DESCRIPTION_CHARS  # tags + description
_MERGE_SLACK = 1.10  # merging PDFs rewrites objects: allow 10 % + 4 kB on top of the parts
_MERGE_EXTRA = 4096


def _b64(size: int) -> int:
    return 4 * ((size + 2) // 3)


def size_bound(personal_sizes: Sequence[int], standard_sizes: Sequence[int]) -> int:
    """An upper bound of the bytes one message adds to a batch.

    ``personal_sizes``: the message's personal PDFs; ``standard_sizes``: its message
    type's standard PDFs. Composition (``attachments.compose``) may merge PDFs; a
    composed set above 500 kB is never sent (it is rejected while the batch is built),
    so 500 kB caps the attachment bytes.
    """
    bound = MESSAGE_WITHOUT_ATTACHMENTS_MAX_BYTES
    parts = len(personal_sizes) + len(standard_sizes)
    if parts == 0:
        return bound
    raw = sum(personal_sizes) + sum(standard_sizes)
    if parts > MAX_ATTACHMENTS_PER_MESSAGE:
        raw = int(raw * _MERGE_SLACK) + _MERGE_EXTRA
    raw = min(raw, MAX_ATTACHMENT_BYTES_PER_MESSAGE)
    return bound + _b64(raw) + MAX_ATTACHMENTS_PER_MESSAGE * _ATTACHMENT_OVERHEAD


# --------------------------------------------------------------------------- slices


@dataclass(frozen=True, slots=True)
class PendingBatch:
    batch_id: str
    submission_id: int
    batch_number: int
    connection_code: str = ""


def _label(index: int, count: int, batches: Sequence[PendingBatch]) -> str:
    """What the UI shows for a mapped send task: connection(s), submission(s), batches."""
    first, last = batches[0], batches[-1]
    codes = "+".join(dict.fromkeys(b.connection_code for b in batches if b.connection_code))
    if first.submission_id == last.submission_id:
        numbers = (
            f"batch {first.batch_number}"
            if first.batch_number == last.batch_number
            else f"batches {first.batch_number}-{last.batch_number}"
        )
        where = f"submission {first.submission_id} {numbers}"
    else:
        where = (
            f"submissions {first.submission_id}-{last.submission_id} ({len(batches)} batches)"
        )
    return f"slice {index + 1}/{count}: " + (f"{codes}, " if codes else "") + where


def plan_slices(
    batches: Sequence[PendingBatch],
    *,
    batches_per_slice: int = DEFAULT_BATCHES_PER_SLICE,
    max_map_length: int = DEFAULT_MAX_MAP_LENGTH,
    max_slices: int | None = None,
) -> list[dict]:
    """Delivery slices over ``batches`` (in the order given), as JSON-friendly dicts
    ``{"index", "count", "label", "batch_ids"}`` for ``expand``.

    Uses ``chunking.delivery_slices`` on positions, so the same rules hold: at least
    ``batches_per_slice`` per slice (few batches: one task), and never more slices than
    ``max_slices`` (the send pool's slots: every slice costs a task start-up, and more
    than the pool runs at once only wait) or ``max_map_length``.
    """
    limit = max_map_length if max_slices is None else max(1, min(max_map_length, max_slices))
    out: list[dict] = []
    for s in delivery_slices(len(batches), batches_per_slice=batches_per_slice, max_map_length=limit):
        part = batches[s.first_batch - 1 : s.last_batch]
        out.append(
            {
                "index": s.index,
                "count": s.slice_count,
                "label": _label(s.index, s.slice_count, part),
                "batch_ids": [b.batch_id for b in part],
            }
        )
    return out


# --------------------------------------------------------------------------- result files

# Headers, outcome words and explanations of a result file are in ONE language, the
# connection's (``bbx.i18n``: the caller writes the file inside ``language(...)``). The
# Dutch headers are the historical ones: regel;bsn;uitkomst;outcome;code;toelichting;...
# ``outcome`` (the machine-readable outcome) and ``code`` (Logius's) are the same in
# every language; ``afgerond_op``/``final_at`` is Dutch time, ``2026-03-01 14:05:09``.
# New columns go at the end (after ``correctie`` in a later version), so that a tenant's
# import that reads columns by position keeps working.
def outcome_labels() -> dict[str, str]:
    return {"delivered": _("delivered"), "not_subscribed": _("not subscribed"), "failed": _("failed"),
            "rejected": _("rejected"), "cancelled": _("cancelled")}


def result_columns() -> tuple[str, ...]:
    return (_("row"), "bsn", _("result"), "outcome", "code", _("explanation"), _("message_id"), _("final_at"))


def undeliverable_columns() -> tuple[str, ...]:
    return ("bsn", _("row"), _("result"), "code", _("explanation"))
RESULT_TIMEZONE = TIMEZONE
RESULT_TIMEZONE_NAME = TIMEZONE_NAME  # the same, for PostgreSQL (``bbx.store.result_files.result_file_lines``)


def _csv(rows: Iterable[Sequence[object]], header: Sequence[str]) -> Iterable[bytes]:
    """BBX's outbox CSV (``bbx.domain.csvfile``: UTF-8 with a BOM, ';', CR LF, formula-like
    cells guarded). BSNs are written as their nine digits; a spreadsheet that strips a
    leading zero gives an 8-digit value, which BBX's intake recognises and repairs."""
    return csvfile.chunks(rows, header)


def correction_column() -> str:
    return _("correction")


def standard_text_version_column() -> str:
    """The last column: the version of the message type's standard text the message was
    planned with (issue 18); empty for a rejected row, which became no message."""
    return _("standard_text_version")


def result_file_rows(rows: Iterable[dict], *, corrected: bool = False) -> Iterable[bytes]:
    """The result file: one row per input row (dicts with row_number, bsn, outcome,
    outcome_code, outcome_reason, message_id, final_at), as CSV bytes chunks.

    ``corrected`` (a result file version after the first): an extra column ``correctie``
    says, for each row whose outcome changed since the previous version (dict key
    ``corrected_from``/``corrected_from_code``), what it was and that it is delivered
    after all; empty for the other rows. The last column is the standard-text version
    (dict key ``standard_text_version``, :func:`standard_text_version_column`)."""
    columns = result_columns() + ((correction_column(),) if corrected else ()) + (standard_text_version_column(),)
    labels = outcome_labels()

    def line(r: dict) -> tuple:
        base = (r["row_number"], r["bsn"], labels.get(r["outcome"], r["outcome"]), r["outcome"],
                r["outcome_code"], r["outcome_reason"], r["message_id"], _local(r.get("final_at")))
        version = r.get("standard_text_version")
        if not corrected:
            return (*base, version)
        was = r.get("corrected_from")
        note = _("corrected: reported before as {was} ({code}), delivered after all ({now}); do not send a "
                 "paper letter", was=labels.get(was, was), code=r.get("corrected_from_code") or "-",
                 now=labels.get(r["outcome"], r["outcome"])) if was else None
        return (*base, note, version)

    return _csv((line(r) for r in rows), columns)


def result_file_from_lines(lines: Iterable[bytes]) -> Iterable[bytes]:
    """The first result file (no ``correctie`` column) from its rows' CSV lines, as
    ``bbx.store.result_files.result_file_lines`` has PostgreSQL write them: byte for byte
    :func:`result_file_rows` of the same rows, without Python per row."""
    return csvfile.with_head(result_columns() + (standard_text_version_column(),), lines)


def undeliverable_from_lines(lines: Iterable[bytes]) -> Iterable[bytes]:
    """The undeliverable list from its rows' CSV lines (as :func:`result_file_from_lines`):
    byte for byte :func:`undeliverable_rows`."""
    return csvfile.with_head(undeliverable_columns(), lines)


def _local(moment) -> str | None:
    """A timestamp as Dutch local time, the way Excel reads it (``2026-03-01 14:05:09``)."""
    if moment is None:
        return None
    return moment.astimezone(RESULT_TIMEZONE).strftime("%Y-%m-%d %H:%M:%S")


def undeliverable_rows(rows: Iterable[dict]) -> Iterable[bytes]:
    """The BSNs whose letter could not go digitally — not subscribed or failed — for a
    paper fallback (rejected rows are for the tenant to correct, see the result file)."""
    labels = outcome_labels()
    return _csv(
        (
            (r["bsn"], r["row_number"], labels.get(r["outcome"], r["outcome"]),
             r["outcome_code"], r["outcome_reason"])
            for r in rows
        ),
        undeliverable_columns(),
    )


RESULT_SUFFIXES = (".results.csv", ".undeliverable.csv")


def result_file_names(submission_id: int, channel: str, drop_name: str | None = None, *,
                      version: int = 1) -> tuple[str, str]:
    """Names of the result file and the undeliverable list in the tenant's outbox, next
    to intake's reports: ``<drop name>.s<submission>.results.csv`` for an SFTP drop,
    ``<channel>.s<submission>.results.csv`` for the other channels. A corrected version
    (an outcome changed after the first file was written) is ``….results-v2.csv``."""
    from bbx.domain.drop import safe_label

    if version < 1:
        raise ValueError("result file versions start at 1")
    label = f"{safe_label(drop_name) if drop_name else channel}.s{submission_id}"
    tail = "" if version == 1 else f"-v{version}"
    return tuple(label + suffix.replace(".csv", f"{tail}.csv") for suffix in RESULT_SUFFIXES)  # type: ignore[return-value]
