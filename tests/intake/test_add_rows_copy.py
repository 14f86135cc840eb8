"""store.submissions.add_rows writes its COPY text blocks itself (issue 17): every value must
arrive as given — tabs, line breaks and backslashes in texts and reasons, the encrypted
personal text, NULLs — and a rerun writes no row twice."""

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
