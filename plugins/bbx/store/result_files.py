"""Delivery in the database: closing submissions whose messages are all final, and the
result files for the tenant's outbox (which are due, their rows, written, purged).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence

from bbx.domain import csvfile, outcomes
from bbx.store import audit
from bbx.store.batches import ACTOR


def _narrow(where: list[str], params: list, connection_id: int | None,
            submission_ids: Sequence[int] | None) -> None:
    """Limit a query over submissions ``s`` to one connection and/or some submissions."""
    if connection_id is not None:
        where.append("s.connection_id = %s")
        params.append(connection_id)
    if submission_ids is not None:
        where.append("s.id = ANY(%s)")
        params.append(list(submission_ids))


def closable_submissions(conn, *, connection_id: int | None = None,
                         submission_ids: Sequence[int] | None = None) -> list[int]:
    """Submissions being delivered whose messages all have a final outcome."""
    where, params = ["s.status = 'delivering'"], []
    _narrow(where, params, connection_id, submission_ids)
    return [
        r["id"]
        for r in conn.execute(
            f"""SELECT s.id FROM submissions s WHERE {' AND '.join(where)}
                AND s.open_messages = 0
                ORDER BY s.id""",
            params,
        )
    ]


def unreported_submissions(conn, *, connection_id: int | None = None,
                           submission_ids: Sequence[int] | None = None) -> list[dict]:
    """Closed submissions whose result file is not yet in the tenant's outbox."""
    where, params = ["s.status = 'closed'", "s.results_written_at IS NULL",
                     "s.channel IN ('sftp', 'manual', 'api')",
                     "s.kind = 'messages'"], []  # a population list (issue 16) has no results
    _narrow(where, params, connection_id, submission_ids)
    return conn.execute(
        f"""SELECT s.id, s.external_ref, s.channel, s.connection_id, c.code AS connection_code,
                   c.sftp_folder, c.language, t.code AS tenant_code, d.name AS drop_name, s.results_version
            FROM submissions s JOIN connections c ON c.id = s.connection_id
            JOIN tenants t ON t.id = c.tenant_id
            LEFT JOIN sftp_drops d ON d.submission_id = s.id
            WHERE {' AND '.join(where)} ORDER BY s.id""",
        params,
    ).fetchall()


def result_rows(conn, submission_id: int, *, undeliverable_only: bool = False,
                with_corrections: bool = False) -> Iterator[dict]:
    """One dict per input row with its outcome, in row order (server-side cursor).

    ``undeliverable_only``: the paper-mail list, :data:`bbx.domain.outcomes.UNDELIVERABLE`.
    ``with_corrections``: each row also carries ``corrected_from``/``corrected_from_code``
    when its outcome was corrected since the last result file the tenant got. Every row
    carries ``standard_text_version`` (the version its message was planned with, or None)."""
    params: list = [submission_id]
    extra = ""
    if undeliverable_only:
        extra = " AND m.outcome = ANY(%s)"
        params.append([o.value for o in outcomes.UNDELIVERABLE])
    correction = "NULL::text AS corrected_from, NULL::text AS corrected_from_code"
    join = ""
    if with_corrections:
        correction = "c.from_outcome AS corrected_from, c.from_code AS corrected_from_code"
        join = """LEFT JOIN LATERAL (SELECT from_outcome, from_code FROM outcome_corrections oc
                                     WHERE oc.message_id = m.id AND oc.reported_in_version IS NULL
                                     ORDER BY oc.id LIMIT 1) c ON true"""
    with conn.cursor(name=f"results_{submission_id}_{int(undeliverable_only)}") as cursor:
        cursor.itersize = 20_000
        cursor.execute(
            f"""SELECT m.row_number, m.bsn, m.outcome, m.outcome_code, m.outcome_reason,
                       m.message_id::text AS message_id, m.final_at, {correction},
                       v.version AS standard_text_version
                FROM messages m {join}
                LEFT JOIN standard_text_versions v ON v.id = m.standard_text_version_id
                WHERE m.submission_id = %s{extra} ORDER BY m.row_number""",
            params,
        )
        yield from cursor


def _csv_params(labels: Mapping[str, str], timezone: str) -> dict:
    """The dialect's rules (``bbx.domain.csvfile``) as PostgreSQL regular expressions."""
    digit = "[" + csvfile.decimal_digits() + "]"
    starts = "".join(c for c in csvfile.FORMULA_START if c != "-") + "-"  # '-' last: no range
    return {"needs_guard": f"^'*[{starts}]", "number": "^" + csvfile.NUMBER_SHAPE.replace("D", digit) + "$",
            "quote_if": f"[{csvfile.QUOTE_IF_ANY}]", "labels": json.dumps(dict(labels)), "tz": timezone}


def _guarded(value: str) -> str:
    """SQL: the text ``value`` as :func:`bbx.domain.csvfile.guard` writes it (NULL stays NULL)."""
    return (f"CASE WHEN {value} ~ %(needs_guard)s AND {value} !~ %(number)s THEN '''' || {value} "
            f"ELSE {value} END")


def _cell(guarded: str) -> str:
    """SQL: a guarded cell as the CSV writer writes it: quoted where needed, NULL empty."""
    return (f"coalesce(CASE WHEN {guarded} ~ %(quote_if)s THEN '\"' || replace({guarded}, '\"', '\"\"') || '\"' "
            f"ELSE {guarded} END, '')")


def result_file_lines(conn, submission_id: int, *, labels: Mapping[str, str], timezone: str,
                      undeliverable_only: bool = False, every: int = 10_000) -> Iterator[bytes]:
    """The rows of the first result file (or, ``undeliverable_only``, of the undeliverable
    list) as CSV lines in BBX's dialect, written by PostgreSQL in chunks of ``every`` row
    numbers: no Python per row. Byte for byte what ``bbx.domain.delivery.result_file_rows``
    and ``undeliverable_rows`` make of :func:`result_rows` (a test compares both): ``labels``
    are the outcome words, ``final_at`` is local time in ``timezone``. Numbers, ids,
    times and BSNs never need the guard or quotes; every text cell gets both rules."""
    params = _csv_params(labels, timezone) | {"submission": submission_id, "every": every,
                                              "undeliverable": [o.value for o in outcomes.UNDELIVERABLE]}
    texts = {"label": "coalesce(%(labels)s::jsonb ->> m.outcome, m.outcome)",
             "outcome": "m.outcome", "code": "m.outcome_code", "reason": "m.outcome_reason"}
    bsn = "coalesce(m.bsn::text, '')"  # nine digits or none (the schema's check)
    guarded = ", ".join(f"{_guarded(expr)} AS {name}" for name, expr in texts.items())
    if undeliverable_only:
        cells = [bsn, "m.row_number::text", _cell("g.label"), _cell("g.code"), _cell("g.reason")]
        where, join = " AND m.outcome = ANY(%(undeliverable)s)", ""
    else:
        cells = ["m.row_number::text", bsn, _cell("g.label"), _cell("g.outcome"), _cell("g.code"),
                 _cell("g.reason"), "coalesce(m.message_id::text, '')",
                 "coalesce(to_char(m.final_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD HH24:MI:SS'), '')",
                 "coalesce(v.version::text, '')"]
        where = ""
        join = "LEFT JOIN standard_text_versions v ON v.id = m.standard_text_version_id"
    # OFFSET 0 keeps the guarded cells a subquery, computed once per row: inlined, each
    # cell's CASE would repeat the guard's regular expressions up to four times (4x slower)
    line = " || ';' || ".join(cells) + " || E'\\r\\n'"
    query = f"""SELECT string_agg(line, '' ORDER BY row_number) AS chunk
                FROM (SELECT m.row_number, {line} AS line
                      FROM messages m {join}
                      CROSS JOIN LATERAL (SELECT {guarded} OFFSET 0) g
                      WHERE m.submission_id = %(submission)s{where}) lines
                GROUP BY (row_number - 1) / %(every)s ORDER BY (row_number - 1) / %(every)s"""
    for row in conn.cursor().stream(query, params):
        yield row["chunk"].encode("utf-8")


def mark_results_written(conn, submission_id: int, files: Iterable[str], *, version: int = 1) -> None:
    """The result file ``version`` is in the outbox; the corrections it reports are told.
    Called after the upload: clock_timestamp(), not now() (the transaction's start, which can
    lie a minute before a 1M-row file was in the outbox)."""
    conn.execute("""UPDATE submissions SET results_written_at = clock_timestamp(), results_purged_at = NULL,
                           results_version = %s WHERE id = %s""",
                 (version, submission_id))
    told = conn.execute(
        """UPDATE outcome_corrections SET reported_in_version = %s
           WHERE submission_id = %s AND reported_in_version IS NULL""",
        (version, submission_id),
    ).rowcount
    audit.record(conn, actor=ACTOR, action="submission.results_written", submission_id=submission_id,
                 details={"files": list(files), "version": version, "corrections_reported": told})


def results_to_purge(conn, *, limit: int = 1000) -> list[dict]:
    """Submissions whose result files are older than their connection's retention."""
    return conn.execute(
        """SELECT s.id, s.channel, s.connection_id, c.code AS connection_code, c.sftp_folder,
                  d.name AS drop_name, s.results_version
           FROM submissions s JOIN connections c ON c.id = s.connection_id
           LEFT JOIN sftp_drops d ON d.submission_id = s.id
           WHERE s.results_written_at IS NOT NULL AND s.results_purged_at IS NULL
             AND s.results_written_at < now() - make_interval(days => c.retention_days)
           ORDER BY s.results_written_at LIMIT %s""",
        (limit,),
    ).fetchall()


def mark_results_purged(conn, submission_id: int, files: Iterable[str]) -> None:
    conn.execute("UPDATE submissions SET results_purged_at = now() WHERE id = %s", (submission_id,))
    audit.record(conn, actor=ACTOR, action="submission.results_purged", submission_id=submission_id,
                 details={"files": list(files)})
