"""The append-only, hash-chained audit log: write an entry, search, verify the chain.

The database refuses updates and deletes and chains every entry when its transaction
commits (include/sql/140_audit_chain.sql); :func:`verify` re-computes the chain in
Python (bbx.domain.audit_chain).

Who / when / what / outcome: ``actor`` is a person (``user:<name>``, ``airflow:<name>``,
``cli:<login>``), a named key (``api-key:<prefix>``) or BBX itself (``bbx``, ``bbx:<part>``);
``at`` is the transaction's time; ``action`` is ``<area>.<verb>`` (``submission.received``,
``api_key.revoked``); ``outcome`` is ``ok`` or ``refused`` with a ``reason``. Details never
hold personal content: every text in them goes through the BSN masker.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from bbx.domain import audit_chain
from bbx.domain.bsn import mask_text

OK = "ok"
REFUSED = "refused"


def _masked(value):
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def record(conn, *, actor: str, action: str, details: dict | None = None, tenant_id: int | None = None,
           connection_id: int | None = None, submission_id: int | None = None, outcome: str = OK,
           reason: str | None = None) -> None:
    """Write one entry in the caller's transaction (it is chained when that commits).

    ``outcome='refused'`` needs a ``reason`` (what was refused and why, no personal data);
    tenant and connection are filled in by the database from the submission when omitted."""
    if outcome not in (OK, REFUSED):
        raise ValueError(f"audit outcome must be 'ok' or 'refused', not {outcome!r}")
    if (outcome == REFUSED) != bool(reason):
        raise ValueError("an audit entry has a reason exactly when its outcome is 'refused'")
    conn.execute(
        "INSERT INTO audit_log (actor, action, tenant_id, connection_id, submission_id, details, outcome, reason)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (actor, action, tenant_id, connection_id, submission_id, Jsonb(_masked(details or {})), outcome,
         mask_text(reason) if reason else None),
    )


def refused(conn, *, actor: str, action: str, reason: str, **kwargs) -> None:
    """An action that was asked for and refused (``record`` with ``outcome='refused'``)."""
    record(conn, actor=actor, action=action, outcome=REFUSED, reason=reason, **kwargs)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Filters:
    tenant_id: int | None = None  # None: every tenant (operators, auditors)
    actor: str | None = None  # part of the actor, case-insensitive
    action: str | None = None  # an action, or an area ('submission' matches 'submission.*')
    outcome: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


_COLUMNS = """a.id, a.seq, a.at, a.actor, a.action, a.tenant_id, t.code AS tenant, c.code AS connection,
              a.submission_id, a.details::text AS details, a.outcome, a.reason"""


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(f: Filters) -> tuple[str, dict]:
    parts, params = ["true"], {}
    if f.tenant_id is not None:
        parts.append("a.tenant_id = %(tenant_id)s")
        params["tenant_id"] = f.tenant_id
    if f.actor:
        parts.append("a.actor ILIKE %(actor)s")
        params["actor"] = f"%{_like(f.actor)}%"
    if f.action:
        parts.append("(a.action = %(action)s OR a.action LIKE %(area)s)")
        params.update(action=f.action, area=f"{_like(f.action.rstrip('.'))}.%")
    if f.outcome:
        parts.append("a.outcome = %(outcome)s")
        params["outcome"] = f.outcome
    if f.since is not None:
        parts.append("a.at >= %(since)s")
        params["since"] = f.since
    if f.until is not None:
        parts.append("a.at < %(until)s")
        params["until"] = f.until
    return " AND ".join(parts), params


def search(conn, filters: Filters, *, before_id: int | None = None, limit: int = 100) -> list[dict]:
    """Newest first; the next page starts before the last id of this one."""
    where, params = _where(filters)
    if before_id is not None:
        where += " AND a.id < %(before_id)s"
        params["before_id"] = before_id
    params["limit"] = limit
    return conn.execute(
        f"SELECT {_COLUMNS} FROM audit_log a LEFT JOIN tenants t ON t.id = a.tenant_id"
        f" LEFT JOIN connections c ON c.id = a.connection_id WHERE {where} ORDER BY a.id DESC LIMIT %(limit)s",
        params,
    ).fetchall()


def stream(conn, filters: Filters, *, batch: int = 5000) -> Iterator[dict]:
    """Every matching entry, oldest first, read in batches (for CSV exports of any size)."""
    where, params = _where(filters)
    after = 0
    while True:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM audit_log a LEFT JOIN tenants t ON t.id = a.tenant_id"
            f" LEFT JOIN connections c ON c.id = a.connection_id WHERE {where} AND a.id > %(after)s"
            " ORDER BY a.id LIMIT %(batch)s",
            {**params, "after": after, "batch": batch},
        ).fetchall()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1]["id"]


def tenant_id_of(conn, code: str) -> int | None:
    row = conn.execute("SELECT id FROM tenants WHERE code = %s", (code,)).fetchone()
    return row["id"] if row else None


def tenant_codes(conn) -> list[str]:
    return [r["code"] for r in conn.execute("SELECT code FROM tenants ORDER BY code")]


# --------------------------------------------------------------------------- verifying


def chain_entries(url: str | None = None, *, itersize: int = 20_000) -> Iterator[audit_chain.Entry]:
    """Every entry in chain order (unsealed ones, if any, last), on its own connection with a
    server-side cursor: constant memory for any length of log."""
    from bbx.store import db

    with db.connect(url) as conn:
        conn.row_factory = tuple_row  # faster than dicts for a million rows
        with conn.transaction(), conn.cursor(name="bbx_audit_verify") as cur:
            cur.itersize = itersize
            cur.execute(
                "SELECT seq, prev_hash, id, at, actor, action, tenant_id, connection_id, submission_id,"
                " details::text, outcome, reason, hash FROM audit_log ORDER BY seq"
            )
            yield from map(audit_chain.Entry._make, cur)


def verify(url: str | None = None, *, watch=None) -> audit_chain.Result:
    """The whole chain re-computed (entries cut off the end show only against a head kept
    elsewhere: :func:`hash_at`, ``bbx audit verify --expect``). ``watch`` wraps the
    entries on their way (``bbx.progress.Progress.track``)."""
    entries = chain_entries(url)
    return audit_chain.check(watch(entries) if watch else entries)


def entry_count(url: str | None = None) -> int:
    """How many entries the log holds (the total a verify walks)."""
    from bbx.store import db

    with db.connect(url) as conn:
        return conn.execute("SELECT count(*) AS n FROM audit_log").fetchone()["n"]


def hash_at(seq: int, url: str | None = None) -> str | None:
    """The hex hash of the entry at ``seq`` (to compare with a head kept elsewhere)."""
    from bbx.store import db

    with db.connect(url) as conn:
        row = conn.execute("SELECT encode(hash, 'hex') AS h FROM audit_log WHERE seq = %s", (seq,)).fetchone()
    return row["h"] if row else None
