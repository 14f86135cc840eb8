"""A crash at any point, then a rerun: nothing is lost, nothing is done twice.

Crashes are made real where they can be (a drop left half-way on SFTP and in the
database, exactly as a killed worker leaves it) and injected as a failing SFTP or
database call where they must happen inside a step.
"""

import io
import os

import pytest
from intake_helpers import CONNECTION, pdf, run_intake

from bbx.domain import bsn
from bbx.hooks.tenant_sftp import ConnectionFolders
from bbx.intake import settings, steps
from bbx.store import submissions

B = list(bsn.generate(30, seed=23))


class Crash(RuntimeError):
    pass


def state(db) -> dict:
    """Everything a rerun could duplicate."""
    return db.execute(
        """SELECT (SELECT count(*) FROM submissions) AS submissions,
                  (SELECT count(*) FROM submission_files) AS files,
                  (SELECT count(*) FROM messages) AS messages,
                  (SELECT count(*) FROM messages WHERE outcome = 'planned') AS planned,
                  (SELECT count(*) FROM message_attachments) AS attachments,
                  (SELECT count(*) FROM sftp_drops) AS drops,
                  (SELECT count(*) FROM audit_log WHERE action = 'submission.accepted') AS accepted_events,
                  (SELECT string_agg(state, ',') FROM sftp_drops) AS drop_states"""
    ).fetchone()


def upload(tenant) -> dict[str, bytes]:
    files = {"bsns.csv": ("bsn\n" + "\n".join(B[:6]) + "\n123\n").encode(),
             f"{B[0]}_1.pdf": pdf("a"), f"{B[1]}_1.pdf": pdf("b"), f"{B[2]}_1.pdf": pdf("c")}
    tenant.upload_drop("fase1", files, marker_content=b"message_type: PASPRT\npdfs_per_bsn: 0-2\n")
    return files


EXPECTED = {"submissions": 1, "files": 5, "messages": 7, "planned": 6, "attachments": 3, "drops": 1,
            "accepted_events": 1, "drop_states": "done"}


def finished(tenant, db) -> None:
    assert dict(state(db)) == EXPECTED
    assert tenant.listdir("/voorbeeld/inbox") == [] and tenant.listdir("/voorbeeld/processing") == []
    assert tenant.listdir("/voorbeeld/archive") == ["fase1.s1"]
    assert tenant.listdir("/voorbeeld/outbox") == ["fase1.s1.ack.json", "fase1.s1.errors.csv"]
    report = tenant.outbox()["fase1.s1.errors.csv"].decode("utf-8-sig")
    assert report.count("\r\n") == 2  # header + the one rejected row, not twice


def test_crash_after_the_claim_before_anything_was_logged(tenant, configured, sftp_server):
    upload(tenant)
    # a worker died right after moving the drop: it is in processing/, the database knows nothing
    os.rename(sftp_server.root / "gemeente-voorbeeld/voorbeeld/inbox/fase1",
              sftp_server.root / "gemeente-voorbeeld/voorbeeld/processing/fase1")
    assert state(configured)["submissions"] == 0
    assert steps.find_drops(CONNECTION) == [{"connection": CONNECTION, "name": "fase1", "stage": "processing"}]
    run_intake()
    finished(tenant, configured)


def test_crash_while_hashing_files_then_retry(tenant, configured, monkeypatch):
    upload(tenant)
    [found] = steps.find_drops(CONNECTION)
    original = ConnectionFolders.hash_file
    calls = {"n": 0}

    def dies_on_third_file(self, *parts):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash("connection lost")
        return original(self, *parts)

    monkeypatch.setattr(ConnectionFolders, "hash_file", dies_on_third_file)
    with pytest.raises(Crash):
        steps.receive_drop(found)
    monkeypatch.setattr(ConnectionFolders, "hash_file", original)
    assert state(configured)["submissions"] == 0  # nothing half-logged
    received = steps.receive_drop(found)  # the task's retry
    steps.acknowledge_drop(steps.validate_drop(received))
    finished(tenant, configured)


def test_crash_in_the_middle_of_writing_rows_rolls_back_and_the_rerun_writes_each_once(tenant, configured, monkeypatch):
    upload(tenant)
    [found] = steps.find_drops(CONNECTION)
    received = steps.receive_drop(found)
    monkeypatch.setattr(settings, "WRITE_CHUNK_BYTES", 1)  # one row per chunk: several COPYs
    original = submissions.add_rows
    calls = {"n": 0}

    def dies_after_two_chunks(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash("worker killed")
        return original(*args, **kwargs)

    monkeypatch.setattr(submissions, "add_rows", dies_after_two_chunks)
    with pytest.raises(Crash):
        steps.validate_drop(received)
    assert state(configured)["messages"] == 0  # one transaction: nothing half-written
    monkeypatch.setattr(submissions, "add_rows", original)
    assert steps.receive_drop(found) == received  # clearing the whole run: receive is a no-op now
    steps.acknowledge_drop(steps.validate_drop(received))
    finished(tenant, configured)


def test_crash_after_rows_were_written_before_the_report_was_uploaded(tenant, configured, monkeypatch):
    upload(tenant)
    [found] = steps.find_drops(CONNECTION)
    received = steps.receive_drop(found)
    original = ConnectionFolders.upload

    def outbox_unreachable(self, data, *parts):
        raise Crash("SFTP server went away")

    monkeypatch.setattr(ConnectionFolders, "upload", outbox_unreachable)
    with pytest.raises(Crash):
        steps.validate_drop(received)
    assert state(configured)["messages"] == 7  # rows committed, report not yet written
    monkeypatch.setattr(ConnectionFolders, "upload", original)
    validated = steps.validate_drop(received)  # rerun: rows untouched, report written
    assert (validated["accepted_rows"], validated["rejected_rows"]) == (6, 1)
    steps.acknowledge_drop(validated)
    finished(tenant, configured)


def test_crash_after_the_acknowledgement_before_the_drop_was_archived(tenant, configured, monkeypatch):
    upload(tenant)
    [found] = steps.find_drops(CONNECTION)
    validated = steps.validate_drop(steps.receive_drop(found))
    original = ConnectionFolders.rename

    def archive_fails(self, source, target):
        if target[0] == "archive":
            raise Crash("killed before the move")
        return original(self, source, target)

    monkeypatch.setattr(ConnectionFolders, "rename", archive_fails)
    with pytest.raises(Crash):
        steps.acknowledge_drop(validated)
    monkeypatch.setattr(ConnectionFolders, "rename", original)
    # the next scheduled run finds the drop in processing/ and finishes it
    run_intake()
    finished(tenant, configured)


def test_rerunning_every_step_of_a_finished_drop_changes_nothing(tenant, configured):
    upload(tenant)
    [found] = steps.find_drops(CONNECTION)
    received = steps.receive_drop(found)
    validated = steps.validate_drop(received)
    done = steps.acknowledge_drop(validated)
    before = tenant.outbox()
    assert steps.receive_drop(found) == received
    assert steps.validate_drop(received) == done
    assert steps.acknowledge_drop(validated) == done
    assert run_intake() == []
    finished(tenant, configured)
    assert tenant.outbox() == before


def test_a_link_planted_in_a_drop_is_not_followed(tenant, configured, sftp_server):
    """A link (made on the server; tenants cannot make links) pointing outside the tree."""
    folder = tenant.upload_drop("link", {"bsns.csv": B[0].encode()}, marker=None)
    secret = sftp_server.root.parent / "secret.csv"
    secret.write_text("geheim;123456782\n")
    os.symlink(secret, sftp_server.root / "gemeente-voorbeeld" / folder.lstrip("/") / "extra.csv")
    tenant.sftp.putfo(io.BytesIO(b"message_type: PASPRT\n"), f"{folder}/READY")
    [result] = run_intake()
    assert result["status"] == "rejected"
    outbox = tenant.outbox()
    notice = outbox[f"link.s{result['submission_id']}.rejected.txt"].decode()
    assert "extra.csv: not a regular file (links and special files are not accepted)" in notice
    assert not any(b"geheim" in content for content in outbox.values())
    logged = configured.execute("SELECT file_name FROM submission_files ORDER BY file_name").fetchall()
    assert [f["file_name"] for f in logged] == ["READY", "bsns.csv"]  # the link was never read


def test_files_changed_in_processing_after_they_were_logged_reject_the_drop(tenant, configured, sftp_server):
    upload(tenant)
    [found] = steps.find_drops(CONNECTION)
    received = steps.receive_drop(found)
    processing = sftp_server.root / "gemeente-voorbeeld/voorbeeld/processing/fase1"
    (processing / "bsns.csv").write_text(f"bsn\n{B[20]}\n")  # not what was logged
    (processing / "READY").unlink()
    result = steps.acknowledge_drop(steps.validate_drop(received))
    assert result["status"] == "rejected"
    notice = tenant.outbox()[f"fase1.s{result['submission_id']}.rejected.txt"].decode()
    assert "bsns.csv: the file changed after the drop was received" in notice
    assert "READY: the file disappeared from processing/ after the drop was received" in notice
    assert state(configured)["messages"] == 0
