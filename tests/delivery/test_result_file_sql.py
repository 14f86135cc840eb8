"""The result file and the undeliverable list as PostgreSQL writes them
(``result_files.result_file_lines``) are byte for byte what the Python writer
(``rules.result_file_rows`` / ``undeliverable_rows`` over ``result_rows``) makes of the
same rows: the formula guard, quoting, empty cells, labels, local time, in both languages,
across chunk boundaries. Real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from delivery_helpers import bsns, rows_for

from bbx.domain import delivery as rules
from bbx.i18n import language
from bbx.store import result_files

# cells a remote's code or an explanation may hold: formula starts, numbers the guard
# leaves alone (also in other scripts' digits), quotes, delimiters, line ends, nothing
NASTY = ["=1+2", "+31", "-12", "+\u0661\u0662", "-\u0661,\u0662", "+\u0661x", "'=x", "''+x", "a;b", 'say "hi"',
         "line\nbreak", "cr\rhere", "\ttab", "@home", "", None, "ünïcode ✓", "-", "+", "+.5", "-1,5", ",5",
         "1.", "+1.", "\\.", "back\\slash", '"', ";", "'", " -1", "-1 "]
OUTCOMES = ["delivered", "not_subscribed", "failed", "rejected", "cancelled"]
MOMENTS = [datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC),
           datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
           datetime(2026, 12, 31, 23, 30, tzinfo=UTC)]


@pytest.fixture
def awkward_submission(tenants):
    """A submission whose rows carry every awkward code and explanation, every outcome and
    local times around the clock changes (set directly: the writers must be exact for any
    value, whatever lets it in)."""
    count = len(NASTY) * 2
    numbers = bsns(count, seed=311)
    sid = tenants.submit("voorbeeld", "PASPRT", rows_for(numbers))
    conn = tenants.db
    conn.execute("SET LOCAL session_replication_role = replica")  # outcomes set directly, not moved
    ids = [r["id"] for r in conn.execute("SELECT id FROM messages WHERE submission_id = %s ORDER BY row_number",
                                         (sid,))]
    for n, pk in enumerate(ids):
        outcome, reason = OUTCOMES[n % len(OUTCOMES)], NASTY[(n + 7) % len(NASTY)]
        if reason is None and outcome != "delivered":  # the schema wants one
            reason = "a reason is required"
        conn.execute(
            """UPDATE messages SET bsn = %s, outcome = %s, outcome_code = %s, outcome_reason = %s, final_at = %s,
                      standard_text_version_id = CASE WHEN %s THEN NULL ELSE standard_text_version_id END
               WHERE id = %s""",
            (None if outcome == "rejected" else numbers[n], outcome, NASTY[n % len(NASTY)], reason, MOMENTS[n % len(MOMENTS)], n % 4 == 0, pk))
    conn.commit()
    return sid


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("every", [1, 7, 10_000])
def test_postgresql_writes_the_same_bytes_as_the_python_writer(tenants, awkward_submission, lang, every):
    conn, sid = tenants.db, awkward_submission
    with language(lang):
        labels = rules.outcome_labels()

        def lines(undeliverable_only):
            return result_files.result_file_lines(conn, sid, labels=labels, timezone=rules.RESULT_TIMEZONE_NAME,
                                                  undeliverable_only=undeliverable_only, every=every)

        by_postgresql = (b"".join(rules.result_file_from_lines(lines(False))),
                         b"".join(rules.undeliverable_from_lines(lines(True))))
        by_python = (b"".join(rules.result_file_rows(result_files.result_rows(conn, sid))),
                     b"".join(rules.undeliverable_rows(result_files.result_rows(conn, sid, undeliverable_only=True))))
    conn.commit()
    assert by_postgresql[0] == by_python[0]
    assert by_postgresql[1] == by_python[1]
    # the awkward values are really in there (guarded, quoted), one line per row
    text = by_python[0].decode("utf-8-sig")
    assert "'=1+2" in text and '"say ""hi"""' in text and '"line\nbreak"' in text and ";+31;" in text
    assert by_python[0].count(b"\r\n") == len(NASTY) * 2 + 1
    assert by_python[1].count(b"\r\n") > 1
