"""Rules of the BSN register that need no database, network or Airflow.

* which day a refresh is for, and what to ask MijnOverheid for (full list or changes);
* whether an answer may be applied, is superseded, or would leave a gap;
* the checks on each answer entry before it reaches the database;
* when a register is stale, and what an operator reads then;
* the export's file names and checksum line; the live check's batching.

Date semantics, shared with MijnOverheid's answer (AbonnementAntwoord.xsd) and the SQL
function ``register_active_on``: a period ``[begin, end)`` means subscribed from
``begin`` up to but not including ``end``; ``end`` is the first day without a
subscription, ``None`` means still subscribed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bbx.domain import bsn as bsn_rules
from bbx.domain import ids
from bbx.domain.limits import MAX_BSNS_PER_VALIDATE_CALL
from bbx.domain.localtime import TIMEZONE

#: Dates of the register are Dutch calendar days.
TZ = TIMEZONE

FULL = "full"
CHANGES = "changes"

#: Logius answers a subscription request within about 4 hours. After this long without
#: an answer, a rerun of the refresh asks again (a new VerzoekId).
ANSWER_TIMEOUT = timedelta(hours=8)

#: The live check (ValidateAbonnementen) is for a lookup or a manual send, never bulk.
MAX_LIVE_CHECK_BSNS = 1000


class RegisterError(ValueError):
    """A refresh cannot be applied as asked; the message says why and what to do."""


# --------------------------------------------------------------------------- days

#: The daily refresh is scheduled at 05:00 Dutch time (bbx_register_refresh's cron).
REFRESH_HOUR = 5


def due_register_day(now: datetime) -> date:
    """The latest register day whose scheduled refresh is due at ``now``: today (the Dutch
    date) from 05:00, yesterday before then (a run's logical date must not lie ahead)."""
    if now.tzinfo is None:
        raise ValueError("refusing a naive datetime: the register day is a Dutch calendar day")
    local = now.astimezone(TZ)
    return local.date() if local.hour >= REFRESH_HOUR else local.date() - timedelta(days=1)


def register_day(logical_date: datetime | None, run_after: datetime | None = None) -> date:
    """The Dutch calendar day a refresh run is for.

    A scheduled or backfilled run has a logical date; a manual run in Airflow 3 may not,
    then the moment it was allowed to run counts.
    """
    moment = logical_date or run_after
    if moment is None:
        raise ValueError("a refresh needs a logical date or a run_after moment")
    if moment.tzinfo is None:
        raise ValueError("Airflow dates are timezone-aware; refusing a naive datetime")
    return moment.astimezone(TZ).date()


def snapshot_day(snapshot_at: datetime) -> date:
    """The Dutch calendar day of an answer's PeilDatum."""
    return snapshot_at.astimezone(TZ).date()


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class RequestPlan:
    kind: str  # FULL or CHANGES
    since: datetime | None  # MutatieDatum for CHANGES
    request_id: str  # VerzoekId (UUIDv5: connection, day, kind, attempt)


def plan_request(connection_code: str, day: date, last_snapshot_at: datetime | None, *,
                 force_full: bool = False, attempt: int = 1) -> RequestPlan:
    """What to ask for: the full list when the register was never built (or a rebuild
    is asked), else the changes since the PeilDatum of the last applied answer."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if force_full or last_snapshot_at is None:
        kind, since = FULL, None
    else:
        kind, since = CHANGES, last_snapshot_at
    key = kind if attempt == 1 else f"{kind}#{attempt}"
    return RequestPlan(kind, since, ids.subscription_request_id(connection_code, day.isoformat(), key))


def ask_again(status: str, sent: bool, requested_at: datetime | None, now: datetime) -> bool:
    """Should a refresh of a day be requested again (new attempt) instead of waited for?

    Yes when it failed, or when it was sent and no answer came within ANSWER_TIMEOUT.
    A request that was never sent (a crash before sendMessage) is sent again as is.
    """
    if status == "failed":
        return True
    if status == "requested" and sent and requested_at is not None:
        return now - requested_at > ANSWER_TIMEOUT
    return False


# --------------------------------------------------------------------------- answers

APPLY = "apply"
SUPERSEDED = "superseded"


def judge_answer(kind: str, since: datetime | None, snapshot_at: datetime,
                 latest_snapshot_at: datetime | None) -> str:
    """May an answer be applied to a register that is correct as of ``latest_snapshot_at``?

    The register stays correct when every applied answer covers the time since the
    register's snapshot: a full list always does, a change list does when its
    MutatieDatum is not after that snapshot. An answer older than the register tells
    nothing new: SUPERSEDED (this happens when runs overlap, e.g. a backfill with
    several active runs). Any order of applying therefore ends in the same register.
    """
    if latest_snapshot_at is not None and snapshot_at < latest_snapshot_at:
        return SUPERSEDED
    if kind == CHANGES:
        if latest_snapshot_at is None:
            raise RegisterError(
                "a list of changes cannot be applied to a register that was never built; "
                "rerun the refresh with the full list (param full=true)"
            )
        if since is None or since > latest_snapshot_at:
            raise RegisterError(
                f"the changes since {since} leave a gap after the register's last snapshot "
                f"{latest_snapshot_at}; rerun the refresh (it asks for the right changes)"
            )
    return APPLY


def check_entry(position: int, bsn: str, ended: bool, begin: date, end: date | None) -> None:
    """Refuse an entry that cannot be a subscription period (the whole answer is refused:
    nothing of it is applied)."""
    if end is not None and end < begin:
        raise RegisterError(
            f"entry {position} ({bsn_rules.mask(bsn)}): DatumEinde {end} is before "
            f"DatumIngang {begin}"
        )
    if ended and end is None:
        raise RegisterError(
            f"entry {position} ({bsn_rules.mask(bsn)}): Status Beeindigd without DatumEinde"
        )


# --------------------------------------------------------------------------- staleness


def stale_reason(*, connection_code: str, last_applied_at: datetime | None, now: datetime,
                 stale_after_hours: int) -> str | None:
    """Why the register of a connection is stale (for operators), or None when fresh."""
    if last_applied_at is None:
        return (
            f"the register of connection {connection_code} has never been built: run "
            "bbx_register_refresh, or acknowledge with "
            f"`bbx register acknowledge {connection_code} --reason ...` to send anyway"
        )
    age = now - last_applied_at
    if age <= timedelta(hours=stale_after_hours):
        return None
    hours = age.total_seconds() / 3600
    return (
        f"the register of connection {connection_code} is stale: last successful refresh "
        f"{last_applied_at.astimezone(TZ):%Y-%m-%d %H:%M} ({hours:.0f} h ago, allowed "
        f"{stale_after_hours} h). Bulk sends are stopped: fix and rerun bbx_register_refresh, "
        f"or acknowledge with `bbx register acknowledge {connection_code} --reason ...`"
    )


# --------------------------------------------------------------------------- export


def export_names(connection_code: str, day: date) -> tuple[str, str]:
    """File names of a register export and its checksum file."""
    name = f"register-{connection_code}-{day:%Y-%m-%d}.csv"
    return name, name + ".sha256"


def checksum_line(sha256: str, file_name: str) -> str:
    """One line in ``sha256sum`` format (``sha256sum -c`` checks it)."""
    return f"{sha256}  {file_name}\n"


EXPORT_HEADER = ("bsn", "begin_date", "end_date")


# --------------------------------------------------------------------------- live check


def live_check_batches(bsns: Iterable[str]) -> list[list[str]]:
    """Checked, de-duplicated BSNs cut into calls of at most 250 (ValidateAbonnementen).

    Raises ValueError for an invalid BSN or a list too long for a live check.
    """
    unique: list[str] = []
    seen: set[str] = set()
    for position, raw in enumerate(bsns, 1):
        checked = bsn_rules.check(raw)
        if checked.error:
            raise ValueError(f"BSN {position} ({bsn_rules.mask(str(raw))}): {checked.error}")
        if checked.bsn not in seen:
            seen.add(checked.bsn)
            unique.append(checked.bsn)
    if len(unique) > MAX_LIVE_CHECK_BSNS:
        raise ValueError(
            f"a live check is for a lookup or a manual send, at most {MAX_LIVE_CHECK_BSNS} "
            f"BSNs (got {len(unique)}); bulk sends use the register"
        )
    size = MAX_BSNS_PER_VALIDATE_CALL
    return [unique[i : i + size] for i in range(0, len(unique), size)]
