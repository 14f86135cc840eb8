"""store.submissions.add_rows writes its COPY text blocks itself (issue 17): every value must
arrive as given — tabs, line breaks and backslashes in texts and reasons, the encrypted
personal text, NULLs — and a rerun writes no row twice."""

import pytest

from bbx import crypto
from bbx.domain import ids
from bbx.store import administration, handins, submissions
from bbx.store.submissions import NewRow

AWKWARD = "tab\there\nnew line\r\\back\\slash \\N not null"


def test_add_rows_stores_every_value_as_given(configured):
    db = configured
    connection = administration.connection_by_code(db, "voorbeeld")
    message_type = handins.message_type(db, connection["id"], "PASPRT")
    sub = submissions.open_submission(db, connection_id=connection["id"], channel="sftp", external_ref="copy-test",
                                      submitted_by="test", message_type_id=message_type["id"])
    rows = [
        NewRow(1, "123456782"),
        NewRow(2, "111222333", subject="Onderwerp\t\\1", text=AWKWARD, reference="ref\\\n7"),
        NewRow(3, None, rejection=AWKWARD),
        NewRow(4, "123456782", rejection="the BSN is also on row 1"),
    ]
    args = dict(connection_code="voorbeeld", connection_id=connection["id"], message_type_id=message_type["id"],
                standard_text_version_id=message_type["standard_text_version_id"])
    assert submissions.add_rows(db, sub.id, rows=rows, **args) == {"accepted": 2, "rejected": 2}
    assert submissions.add_rows(db, sub.id, rows=rows, **args) == {"accepted": 0, "rejected": 0}  # a rerun
    got = {r["row_number"]: r for r in db.execute(
        """SELECT row_number, bsn, message_id::text AS message_id, subject, text_encrypted, reference, outcome,
                  outcome_code, outcome_reason, final_at, standard_text_version_id FROM messages
           WHERE submission_id = %s""", (sub.id,))}
    assert got[1]["message_id"] == ids.message_id("voorbeeld", sub.id, "123456782")
    assert (got[1]["subject"], got[1]["text_encrypted"], got[1]["reference"]) == (None, None, None)
    assert got[1]["standard_text_version_id"] == message_type["standard_text_version_id"]
    assert (got[1]["outcome"], got[1]["final_at"]) == ("planned", None)
    assert got[2]["subject"] == "Onderwerp\t\\1" and got[2]["reference"] == "ref\\\n7"
    assert crypto.decrypt(bytes(got[2]["text_encrypted"])).decode() == AWKWARD
    assert (got[3]["bsn"], got[3]["message_id"], got[3]["outcome"]) == (None, None, "rejected")
    assert (got[3]["outcome_code"], got[3]["outcome_reason"]) == ("validation", AWKWARD)
    assert got[3]["final_at"] is not None and got[3]["standard_text_version_id"] is None
    assert (got[4]["bsn"], got[4]["outcome_reason"]) == ("123456782", "the BSN is also on row 1")


def _submission(db, ref):
    connection = administration.connection_by_code(db, "voorbeeld")
    message_type = handins.message_type(db, connection["id"], "PASPRT")
    sub = submissions.open_submission(db, connection_id=connection["id"], channel="sftp", external_ref=ref,
                                      submitted_by="test", message_type_id=message_type["id"])
    args = dict(connection_code="voorbeeld", connection_id=connection["id"], message_type_id=message_type["id"],
                standard_text_version_id=message_type["standard_text_version_id"])
    return sub, args


def _numbers(n):
    from bbx.domain import bsn
    return list(bsn.generate(n, seed=17))


def test_add_rows_writes_many_blocks_in_order(configured):
    """More rows than one COPY block (the writes overlap with the server): all there, once."""
    db = configured
    sub, args = _submission(db, "copy-blocks")
    numbers = _numbers(2 * submissions._COPY_BLOCK_ROWS + 3)
    rows = (NewRow(i, b) for i, b in enumerate(numbers, 1))
    assert submissions.add_rows(db, sub.id, rows=rows, **args) == {"accepted": len(numbers), "rejected": 0}
    got = db.execute("SELECT row_number, bsn, message_id::text AS message_id FROM messages WHERE submission_id = %s"
                     " ORDER BY row_number", (sub.id,)).fetchall()
    assert [(r["row_number"], r["bsn"]) for r in got] == list(enumerate(numbers, 1))
    assert all(r["message_id"] == ids.message_id("voorbeeld", sub.id, r["bsn"]) for r in got)


def test_add_rows_writes_nothing_when_the_rows_fail_half_way(configured):
    """A failure while the rows are produced (after whole blocks went to the server) ends the
    COPY as a whole: no row of it is written, and the connection goes on."""
    db = configured
    sub, args = _submission(db, "copy-fails")
    numbers = _numbers(3 * submissions._COPY_BLOCK_ROWS)

    def rows():
        for i, b in enumerate(numbers, 1):
            if i == len(numbers) - 10:
                raise RuntimeError("the drop's file could not be read")
            yield NewRow(i, b)

    with pytest.raises(RuntimeError, match="could not be read"):
        with db.transaction():
            submissions.add_rows(db, sub.id, rows=rows(), **args)
    assert db.execute("SELECT count(*) AS n FROM messages WHERE submission_id = %s", (sub.id,)).fetchone()["n"] == 0


def test_add_rows_reports_the_servers_refusal(configured):
    """A row the server refuses (here: a row number twice, in a later block) fails the COPY
    with the server's own error; nothing of it is written."""
    import psycopg

    db = configured
    sub, args = _submission(db, "copy-refused")
    numbers = _numbers(2 * submissions._COPY_BLOCK_ROWS)
    rows = [NewRow(i, b) for i, b in enumerate(numbers, 1)] + [NewRow(1, numbers[0])]
    with pytest.raises(psycopg.errors.UniqueViolation):
        with db.transaction():
            submissions.add_rows(db, sub.id, rows=rows, **args)
    assert db.execute("SELECT count(*) AS n FROM messages WHERE submission_id = %s", (sub.id,)).fetchone()["n"] == 0
