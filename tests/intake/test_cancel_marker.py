"""The SFTP ``CANCEL`` marker (issue 18, docs/drop-protocol.md §2.6): a tenant cancels a
drop's submission by putting a file in inbox/; the answer is in outbox/. Real SFTP server
(asyncssh over TCP), real PostgreSQL, the real intake steps."""

from __future__ import annotations

import io
import json
import re

import pytest
from intake_helpers import CONNECTION, csv_bytes, run_intake

from bbx.domain import bsn as bsn_rules
from bbx.domain.drop_cancel import CancelMarkerError, is_cancel_marker, parse_cancel_marker
from bbx.intake import steps


def _put(tenant, name: str, content: bytes) -> None:
    tenant.sftp.putfo(io.BytesIO(content), f"/{CONNECTION}/inbox/{name}")


def test_a_cancel_marker_cancels_the_drop_and_answers_in_the_outbox(tenant, configured):
    numbers = list(bsn_rules.generate(3, seed=197))
    tenant.upload_drop("mei", {"lijst.csv": csv_bytes("bsn\n" + "\n".join(numbers) + "\n")})
    (result,) = run_intake()
    sid = result["submission_id"] if "submission_id" in result else int(
        re.search(r"\.s(\d+)\.ack\.json", " ".join(tenant.outbox())).group(1))
    _put(tenant, "mei.cancel", f"submission: s{sid}\r\n".encode())
    assert steps.find_drops(CONNECTION) == []  # a marker is no drop
    outbox = tenant.outbox()
    answer = json.loads(outbox[f"mei.cancel.s{sid}.cancel.json"])
    assert (answer["cancelled"], answer["not_cancelled"], answer["closed"]) == (3, 0, True)
    assert "mei.cancel" not in tenant.listdir(f"/{CONNECTION}/inbox")
    configured.rollback()
    row = configured.execute("SELECT status, cancelled_by FROM submissions WHERE id = %s", (sid,)).fetchone()
    assert row["status"] == "closed" and row["cancelled_by"] == "sftp:voorbeeld:mei.cancel"


def test_a_cancel_marker_for_someone_elses_submission_is_refused(tenant, configured):
    configured.rollback()
    other = configured.execute(
        """INSERT INTO submissions (connection_id, channel, external_ref, submitted_by, status, rows_handed_in)
           SELECT id, 'api', 'k-other', 'test', 'accepted', 0 FROM connections WHERE code <> %s LIMIT 1
           RETURNING id""", (CONNECTION,)).fetchone()["id"]
    configured.commit()
    _put(tenant, "CANCEL", f"submission: {other}\n".encode())
    _put(tenant, "x.cancel.txt", b"drop: mei\n")
    steps.find_drops(CONNECTION)
    outbox = tenant.outbox()
    assert f"has no submission {other}" in outbox["CANCEL.cancel-refused.txt"].decode()
    assert "Unknown line" in outbox["x.cancel.txt.cancel-refused.txt"].decode()
    configured.rollback()
    assert configured.execute("SELECT cancel_requested_at FROM submissions WHERE id = %s",
                              (other,)).fetchone()["cancel_requested_at"] is None


def test_marker_names_and_contents():
    assert all(is_cancel_marker(n) for n in ("CANCEL", "cancel.txt", "mei 2026.cancel", "a.CANCEL.TXT"))
    assert not any(is_cancel_marker(n) for n in ("READY", "cancelled.csv", "lijst.csv", ".cancel"))
    assert parse_cancel_marker(b"\xef\xbb\xbfsubmission: 12\r\n\r\n") == 12
    for bad in (b"", b"submission: twelve", b"submission: 1\nsubmission: 2", b"\xff\xfe", b"x" * 5000):
        with pytest.raises(CancelMarkerError):
            parse_cancel_marker(bad)
