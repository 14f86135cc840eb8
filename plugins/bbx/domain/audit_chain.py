"""The audit log's hash chain: its canonical form, and the check of a whole chain.

Each entry's hash is sha256 over (seq, prev_hash, id, at, actor, action, tenant,
connection, submission, details, outcome, reason), each field written as
``<length>:<text>;`` (``-;`` for NULL) after the prefix ``bbx-audit-v1;``; ``at`` in UTC
as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, ``details`` as PostgreSQL's text of the jsonb value,
``prev_hash`` in lower-case hex. The database computes the same (audit_log_digest in
include/sql/140_audit_chain.sql); this copy lets `bbx audit verify` check the chain without
trusting the database's function.

A chain is intact when the entries, in seq order, are numbered 1, 2, 3, ... without gaps,
each one's prev_hash is the hash of the one before (NULL for the first) and each one's
hash matches its content. :func:`check` walks any number of entries in constant memory
and stops at the first break.

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

PREFIX = "bbx-audit-v1;"


class Entry(NamedTuple):
    """One entry as stored (``details``: the text of the jsonb value). A named tuple: a
    million are made per verify, and a tuple is the cheapest to make."""

    seq: int | None
    prev_hash: bytes | None
    id: int
    at: datetime
    actor: str
    action: str
    tenant_id: int | None
    connection_id: int | None
    submission_id: int | None
    details: str
    outcome: str
    reason: str | None
    hash: bytes | None


def _field(value: object) -> str:
    if value is None:
        return "-;"
    text = str(value)
    return f"{len(text)}:{text};"


def canonical(e: Entry) -> str:
    at = e.at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    prev = e.prev_hash.hex() if e.prev_hash is not None else None
    return PREFIX + "".join(map(_field, (
        e.seq, prev, e.id, at, e.actor, e.action, e.tenant_id, e.connection_id, e.submission_id,
        e.details, e.outcome, e.reason)))


def digest(e: Entry) -> bytes:
    return hashlib.sha256(canonical(e).encode("utf-8")).digest()


@dataclass(frozen=True)
class Break:
    """The first place where the chain is broken, said for an auditor."""

    kind: str  # 'changed' | 'missing' | 'relinked' | 'unsealed'
    seq: int | None
    id: int
    at: datetime
    message: str


@dataclass(frozen=True)
class Result:
    checked: int
    head_seq: int | None  # the last entry checked: record it elsewhere to detect a cut-off tail
    head_hash: bytes | None
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def _short(h: bytes | None) -> str:
    return "none" if h is None else h.hex()[:16]


def _where(e: Entry) -> str:
    return f"entry id {e.id} (seq {e.seq}, {e.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, {e.action})"


def check(entries: Iterable[Entry]) -> Result:
    """Walk ``entries`` in seq order; the first break found ends the walk."""
    checked = 0
    prev: Entry | None = None
    prev_hash = None
    expected_seq = 1
    for e in entries:
        if e.seq == expected_seq and e.prev_hash == prev_hash and e.hash is not None and digest(e) == e.hash:
            checked += 1
            prev, prev_hash, expected_seq = e, e.hash, expected_seq + 1
            continue
        return Result(checked, prev.seq if prev else None, prev_hash, _diagnose(e, prev, expected_seq))
    return Result(checked, prev.seq if prev else None, prev_hash, None)


def _diagnose(e: Entry, prev: Entry | None, expected_seq: int) -> Break:
    """What is wrong with ``e``, the first entry that does not fit the chain."""
    where = _where(e)
    if e.seq is None or e.hash is None:
        return Break("unsealed", e.seq, e.id, e.at,
                     f"{where} is not in the chain: it was written with the database's triggers off")
    if e.seq != expected_seq:
        if e.seq > expected_seq:
            return Break("missing", e.seq, e.id, e.at,
                         f"entries seq {expected_seq}..{e.seq - 1} are missing before {where}: deleted")
        return Break("missing", e.seq, e.id, e.at,
                     f"{where} repeats or goes back in the numbering (expected seq {expected_seq})")
    computed = digest(e)
    if computed != e.hash:
        return Break("changed", e.seq, e.id, e.at,
                     f"{where} was changed after it was written: its content no longer matches its hash "
                     f"(stored {_short(e.hash)}…, computed {_short(computed)}…)")
    before = f"entry id {prev.id} (seq {prev.seq})" if prev is not None else "no entry (it is the first)"
    return Break("relinked", e.seq, e.id, e.at,
                 f"{where} does not follow {before}: it names {_short(e.prev_hash)}… as the previous "
                 f"hash, the previous entry has {_short(prev.hash if prev else None)}… "
                 "(an entry was replaced, re-hashed or moved)")
