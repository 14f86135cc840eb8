"""Migrations from empty, re-run, and the invariants the database enforces itself."""

import psycopg
import pytest

from bbx.store import migrations

OIN = "00000001001234567000"
BSN = "249566758"
PDF = b"%PDF-1.4 tiny"


def test_migrations_apply_from_empty_and_rerun_is_a_no_op(database_url):
    # The template was migrated from empty; running again applies nothing.
    assert migrations.migrate(database_url) == []
    names = [m.name for m in migrations.discover()]
    with psycopg.connect(database_url) as conn:
        applied = [r[0] for r in conn.execute("SELECT name FROM bbx.schema_migrations ORDER BY version")]
    assert applied == names
    assert names[0] == "001_core.sql"


def test_an_edited_applied_migration_is_refused(database_url, tmp_path):
    (tmp_path / "001_core.sql").write_text("-- edited after it was applied\n")
    with pytest.raises(migrations.MigrationError, match="changed after it was applied"):
        migrations.migrate(database_url, folder=tmp_path)


def _tenant_and_connection(db):
    tenant = db.execute("INSERT INTO tenants (code, name) VALUES ('t1', 'T') RETURNING id").fetchone()["id"]
    conn_id = db.execute(
        "INSERT INTO connections (tenant_id, code, name, oin, sender_code, cpa_id, sftp_folder)"
        " VALUES (%s, 'c1', 'C', %s, 'S', 'cpa', '/t1/c1') RETURNING id",
        (tenant, OIN),
    ).fetchone()["id"]
    return tenant, conn_id


def _assert_refused(db, sql, params=()):
    # varchar limits raise DataError, constraints IntegrityError: both are refusals
    with pytest.raises((psycopg.errors.IntegrityError, psycopg.errors.DataError)):
        with db.transaction():
            db.execute(sql, params)


def test_connection_constraints(db):
    tenant, _ = _tenant_and_connection(db)
    insert = (
        "INSERT INTO connections (tenant_id, code, name, oin, sender_code, cpa_id, sftp_folder)"
        " VALUES (%s, %s, 'C', %s, 'S', 'cpa', %s)"
    )
    _assert_refused(db, insert, (tenant, "c2", "123", "/t1/c2"))  # OIN not 20 digits
    _assert_refused(db, insert, (tenant, "c2", OIN, "/t1/c2"))  # OIN used twice
    _assert_refused(db, insert, (tenant, "c1", "00000001001234567001", "/t1/c9"))  # code used twice
    _assert_refused(db, insert, (tenant, "Bad Code", "00000001001234567001", "/t1/c9"))


def test_message_type_and_attachment_limits(db):
    _, conn_id = _tenant_and_connection(db)
    insert_type = (
        "INSERT INTO message_types (connection_id, code, name, subject, standard_text) VALUES (%s, %s, 'n', %s, %s)"
    )
    _assert_refused(db, insert_type, (conn_id, "TOOLONGXX", "s", None))  # code > 8
    _assert_refused(db, insert_type, (conn_id, "OK", "x" * 51, None))  # subject > 50
    _assert_refused(db, insert_type, (conn_id, "OK", "s", "x" * 4001))  # text > 4000
    db.execute(insert_type, (conn_id, "OK", "s", "x" * 4000))
    _assert_refused(db, insert_type, (conn_id, "OK", "s", None))  # duplicate code
    _assert_refused(
        db,
        "INSERT INTO standard_attachments (connection_id, code, description, file_name, content, size_bytes, sha256)"
        " VALUES (%s, 'a', 'd', 'a.txt', 'not a pdf', 9, repeat('0', 64))",
        (conn_id,),
    )
    type_id = db.execute("SELECT id FROM message_types WHERE code = 'OK'").fetchone()["id"]
    att_ids = [
        db.execute(
            "INSERT INTO standard_attachments (connection_id, code, description, file_name, content, size_bytes, sha256)"
            " VALUES (%s, %s, 'd', 'a.pdf', %s, 13, repeat('0', 64)) RETURNING id",
            (conn_id, f"a{i}", PDF),
        ).fetchone()["id"]
        for i in range(4)
    ]
    link = "INSERT INTO message_type_attachments (message_type_id, position, standard_attachment_id) VALUES (%s, %s, %s)"
    for pos in (1, 2, 3):
        db.execute(link, (type_id, pos, att_ids[pos - 1]))
    _assert_refused(db, link, (type_id, 4, att_ids[3]))  # a fourth standard attachment
    _assert_refused(db, link, (type_id, 1, att_ids[3]))  # position taken


def _submission(db, conn_id):
    return db.execute(
        "INSERT INTO submissions (connection_id, channel, external_ref, submitted_by)"
        " VALUES (%s, 'sftp', 'drop-1', 'test') RETURNING id",
        (conn_id,),
    ).fetchone()["id"]


def test_berichtid_is_unique_and_outcomes_are_final(db):
    _, conn_id = _tenant_and_connection(db)
    sub = _submission(db, conn_id)
    insert = (
        "INSERT INTO messages (submission_id, connection_id, row_number, bsn, message_id)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id"
    )
    mid = "6f1c0b3e-5d2a-5b8e-9a57-0b5e1f2a4c12"
    msg = db.execute(insert, (sub, conn_id, 1, BSN, mid)).fetchone()["id"]
    _assert_refused(db, insert, (sub, conn_id, 2, BSN, mid))  # same BerichtID twice
    _assert_refused(db, insert, (sub, conn_id, 1, BSN, "6f1c0b3e-5d2a-5b8e-9a57-0b5e1f2a4c13"))  # same row twice
    _assert_refused(db, insert, (sub, conn_id, 3, "12345", "6f1c0b3e-5d2a-5b8e-9a57-0b5e1f2a4c14"))  # bad BSN

    # a final outcome needs its timestamp, and a reason where people need one
    _assert_refused(db, "UPDATE messages SET outcome = 'delivered' WHERE id = %s", (msg,))
    _assert_refused(db, "UPDATE messages SET outcome = 'failed', final_at = now() WHERE id = %s", (msg,))
    db.execute("UPDATE messages SET outcome = 'delivered', final_at = now() WHERE id = %s", (msg,))
    with pytest.raises(psycopg.errors.CheckViolation, match="cannot go from delivered to failed \\(delivered is final\\)"):
        with db.transaction():
            db.execute(
                "UPDATE messages SET outcome = 'failed', outcome_reason = 'x' WHERE id = %s", (msg,)
            )


def test_rejected_rows_are_kept_with_a_reason(db):
    _, conn_id = _tenant_and_connection(db)
    sub = _submission(db, conn_id)
    insert = (
        "INSERT INTO messages (submission_id, connection_id, row_number, outcome, outcome_reason, final_at)"
        " VALUES (%s, %s, %s, 'rejected', %s, now())"
    )
    db.execute(insert, (sub, conn_id, 1, "BSN fails the 11-test"))
    _assert_refused(db, insert, (sub, conn_id, 2, None))  # no reason
    _assert_refused(  # an accepted row needs a BSN and a BerichtID
        db, "INSERT INTO messages (submission_id, connection_id, row_number) VALUES (%s, %s, 3)", (sub, conn_id)
    )


_INSERT_PERIOD = (
    "INSERT INTO register_periods (connection_id, bsn, begin_date, end_date, opened_by_refresh, closed_by_refresh)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


def _refresh(db, conn_id) -> int:
    return db.execute(
        "INSERT INTO register_refreshes (connection_id, logical_date, kind, request_id)"
        " VALUES (%s, '2026-11-01', 'full', gen_random_uuid()) RETURNING id",
        (conn_id,),
    ).fetchone()["id"]


def test_register_allows_one_open_period_per_bsn(db):
    _, conn_id = _tenant_and_connection(db)
    refresh = _refresh(db, conn_id)
    insert = _INSERT_PERIOD
    db.execute(insert, (conn_id, BSN, "2026-01-01", None, refresh, None))
    _assert_refused(db, insert, (conn_id, BSN, "2026-02-01", None, refresh, None))  # second open period
    _assert_refused(db, insert, (conn_id, BSN, "2026-02-01", "2026-01-01", refresh, refresh))  # ends before begin
    db.execute(insert, (conn_id, BSN, "2025-01-01", "2025-06-01", refresh, refresh))  # history is fine


def _second_connection(db, tenant) -> int:
    return db.execute(
        "INSERT INTO connections (tenant_id, code, name, oin, sender_code, cpa_id, sftp_folder)"
        " VALUES (%s, 'c2', 'C2', '00000001001234567001', 'S2', 'cpa2', '/t1/c2') RETURNING id",
        (tenant,),
    ).fetchone()["id"]


def test_register_periods_name_refreshes_of_their_own_connection(db):
    # checked once per statement (210): a million-row insert is one join, not a million lookups
    tenant, conn_id = _tenant_and_connection(db)
    other = _second_connection(db, tenant)
    refresh, foreign = _refresh(db, conn_id), _refresh(db, other)
    insert = _INSERT_PERIOD
    refused = pytest.raises(psycopg.errors.ForeignKeyViolation, match="not a refresh of that connection")
    with refused, db.transaction():
        db.execute(insert, (conn_id, BSN, "2026-01-01", None, foreign, None))  # another connection's refresh
    with refused, db.transaction():
        db.execute(insert, (conn_id, BSN, "2026-01-01", None, refresh + 1000, None))  # no such refresh
    with refused, db.transaction():
        db.execute(insert, (conn_id, BSN, "2025-01-01", "2025-06-01", refresh, foreign))  # closed by another's
    db.execute(insert, (conn_id, BSN, "2026-01-01", None, refresh, None))
    db.commit()
    with refused, db.transaction():  # closing it with another connection's refresh
        db.execute("UPDATE register_periods SET end_date = '2026-02-01', closed_by_refresh = %s", (foreign,))
    for sql in ("DELETE FROM register_refreshes WHERE id = %s",
                "UPDATE register_refreshes SET connection_id = %s WHERE id = %s"):
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="opened or closed register periods"):
            with db.transaction():
                db.execute(sql, (refresh,) if sql.startswith("DELETE") else (other, refresh))
    db.execute("UPDATE register_refreshes SET attempt = 2 WHERE id = %s", (refresh,))  # other columns: fine
    db.execute("DELETE FROM register_refreshes WHERE id = %s", (foreign,))  # names no period


def test_audit_log_is_append_only(db):
    db.execute("INSERT INTO audit_log (actor, action) VALUES ('test', 'x')")
    db.commit()  # sealed into the chain at commit (140_audit_chain.sql); then it never changes
    for sql in ("UPDATE audit_log SET action = 'y'", "DELETE FROM audit_log", "TRUNCATE audit_log CASCADE"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            with db.transaction():
                db.execute(sql)


def test_messages_name_an_existing_submission_type_and_version(db):
    # checked once per statement (230): a COPY of a million messages is one join
    tenant, conn_id = _tenant_and_connection(db)
    other = _second_connection(db, tenant)
    sub = _submission(db, conn_id)
    mtype = db.execute(
        "INSERT INTO message_types (connection_id, code, name, subject) VALUES (%s, 'T1', 'T', 'S') RETURNING id",
        (conn_id,),
    ).fetchone()["id"]
    version = db.execute(
        "INSERT INTO standard_text_versions (message_type_id, version, source, actor) VALUES (%s, 1, 'config', 't')"
        " RETURNING id", (mtype,),
    ).fetchone()["id"]
    insert = ("INSERT INTO messages (submission_id, connection_id, message_type_id, standard_text_version_id,"
              " row_number, bsn, message_id) VALUES (%s, %s, %s, %s, %s, %s, gen_random_uuid())")
    refused = pytest.raises(psycopg.errors.ForeignKeyViolation, match="does not exist")
    for values in ((sub + 1000, conn_id, mtype, version),  # no such submission
                   (sub, other, mtype, version),  # not the submission's connection
                   (sub, conn_id, mtype + 1000, version),  # no such type
                   (sub, conn_id, mtype, version + 1000)):  # no such version
        with refused, db.transaction():
            db.execute(insert, (*values, 1, BSN))
    with refused, db.transaction(), db.cursor().copy(
            "COPY messages (submission_id, connection_id, row_number, bsn, message_id) FROM STDIN") as copy:
        copy.write_row((sub, conn_id, 1, BSN, "6f1e2d3c-0000-5000-8000-000000000001"))
        copy.write_row((sub + 1000, conn_id, 2, BSN, "6f1e2d3c-0000-5000-8000-000000000002"))  # one bad row in a COPY
    db.execute(insert, (sub, conn_id, mtype, version, 1, BSN))
    db.execute(insert, (sub, conn_id, None, None, 2, BSN))
    db.commit()
    with refused, db.transaction():  # moved to a submission that does not exist
        db.execute("UPDATE messages SET submission_id = %s WHERE row_number = 1", (sub + 1000,))
    named = pytest.raises(psycopg.errors.ForeignKeyViolation, match="is named by messages")
    for sql, params in (("DELETE FROM submissions WHERE id = %s", (sub,)),
                        ("UPDATE submissions SET connection_id = %s WHERE id = %s", (other, sub)),
                        ("DELETE FROM standard_text_versions WHERE id = %s", (version,)),
                        ("DELETE FROM message_types WHERE id = %s", (mtype,)),
                        ("UPDATE message_types SET id = id + 1000 WHERE id = %s", (mtype,))):
        with named, db.transaction():
            db.execute(sql, params)
    db.execute("UPDATE submissions SET status = 'accepted' WHERE id = %s", (sub,))  # other columns: fine
    db.execute("UPDATE messages SET publication_date = '2026-12-01'")  # sending-side updates: no check
    db.execute("DELETE FROM messages")
    db.execute("DELETE FROM standard_text_versions WHERE id = %s", (version,))  # named by no message any more
    db.execute("DELETE FROM submissions WHERE id = %s", (sub,))


def test_messages_name_an_existing_batch(db):
    # checked once per statement (240): planning moves a whole submission into its batches in one UPDATE
    _, conn_id = _tenant_and_connection(db)
    sub = _submission(db, conn_id)
    batch = db.execute(
        "INSERT INTO batches (id, connection_id, submission_id, batch_number, message_count, size_bytes,"
        " first_row, last_row) VALUES (gen_random_uuid(), %s, %s, 1, 2, 1, 1, 2) RETURNING id", (conn_id, sub),
    ).fetchone()["id"]
    db.execute("INSERT INTO messages (submission_id, connection_id, row_number, bsn, message_id)"
               " SELECT %s, %s, n, %s, gen_random_uuid() FROM generate_series(1, 2) n", (sub, conn_id, BSN))
    db.commit()
    refused = pytest.raises(psycopg.errors.ForeignKeyViolation, match="which does not exist")
    with refused, db.transaction():  # one row of the statement names a batch that does not exist
        db.execute("UPDATE messages SET outcome = 'queued', batch_id = CASE row_number WHEN 1 THEN %s"
                   " ELSE gen_random_uuid() END", (batch,))
    with refused, db.transaction():
        db.execute("INSERT INTO messages (submission_id, connection_id, row_number, bsn, message_id, outcome, batch_id)"
                   " VALUES (%s, %s, 3, %s, gen_random_uuid(), 'queued', gen_random_uuid())", (sub, conn_id, BSN))
    db.execute("UPDATE messages SET outcome = 'queued', batch_id = %s", (batch,))
    db.execute("UPDATE messages SET outcome = 'sent', sent_at = now()")  # the same batch: fine
    db.commit()
    named = pytest.raises(psycopg.errors.ForeignKeyViolation, match="is named by messages")
    for sql in ("DELETE FROM batches WHERE id = %s", "UPDATE batches SET id = gen_random_uuid() WHERE id = %s"):
        with named, db.transaction():
            db.execute(sql, (batch,))
    db.execute("UPDATE batches SET status = 'sent', sent_at = now() WHERE id = %s", (batch,))  # other columns: fine
    assert db.execute("SELECT count(*) AS n FROM messages WHERE batch_id = %s", (batch,)).fetchone()["n"] == 2
