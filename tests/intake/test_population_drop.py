"""A population list over SFTP (issue 16): a drop of kind ``population`` — real SFTP
server, real PostgreSQL. Checked like any BSN list, versioned in the submission log,
never planned for delivery."""

import csv
import io
import json

from intake_helpers import manifest, run_intake

from bbx.domain import bsn

B = list(bsn.generate(30, seed=16))


def population_ready(mode: str | None = None, **extra: str) -> bytes:
    lines = ["kind: population"] + ([f"mode: {mode}"] if mode else []) + [f"{k}: {v}" for k, v in extra.items()]
    return ("\r\n".join(lines) + "\r\n").encode()


def ack_of(outbox: dict[str, bytes], drop: str) -> dict:
    [name] = [n for n in outbox if n.startswith(f"{drop}.s") and n.endswith(".ack.json")]
    return json.loads(outbox[name])


def members(db) -> list[str]:
    return [r["bsn"] for r in db.execute(
        """SELECT m.bsn FROM population_members m JOIN connections c ON c.id = m.connection_id
           WHERE c.code = 'voorbeeld' AND m.removed_by IS NULL ORDER BY m.bsn""")]


def test_population_drops_full_then_additions_and_removals(tenant, configured):
    eight_digit = next(b for b in bsn.generate(200, seed=3, start=1_000_000) if b.startswith("0"))
    body = "bsn\r\n" + "\r\n".join([*B[:10], B[3], "123456789", eight_digit[1:]]) + "\r\n"
    tenant.upload_drop("inwoners-2026", {"inwoners.csv": body.encode()}, marker="READY",
                       marker_content=population_ready("full", drop_id="inw-1"))
    [result] = run_intake()
    assert (result["status"], result["rows"], result["accepted_rows"], result["rejected_rows"]) == ("closed", 13, 0, 2)
    assert members(configured) == sorted([*B[:10], eight_digit])

    sub = configured.execute("SELECT * FROM submissions WHERE id = %s", (result["submission_id"],)).fetchone()
    assert (sub["kind"], sub["status"], sub["message_type_id"], sub["rows_handed_in"]) == ("population", "closed", None, 13)
    assert configured.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 0  # never sent
    files = configured.execute("SELECT file_name, role FROM submission_files WHERE submission_id = %s ORDER BY file_name",
                               (sub["id"],)).fetchall()
    assert [(f["file_name"], f["role"]) for f in files] == [("READY", "marker"), ("inwoners.csv", "list")]

    outbox = tenant.outbox()
    ack = ack_of(outbox, "inwoners-2026")
    assert ack["kind"] == "population" and ack["status"] == "accepted"
    assert ack["rows"] == {"handed_in": 13, "accepted": 11, "rejected": 2}
    assert ack["population"] == {"version": 1, "mode": "full", "rows_handed_in": 13, "rows_rejected": 2,
                                 "added": 11, "removed": 0, "unchanged": 0, "members": 11}
    assert any("8 digits" in n for n in ack["notes"])
    [report] = [n for n in outbox if n.endswith(".errors.csv")]
    rows = list(csv.DictReader(io.StringIO(outbox[report].decode("utf-8-sig")), delimiter=";"))
    assert [(r["row"], r["bsn"]) for r in rows] == [("12", B[3]), ("13", "123456789")]
    assert "only once" in rows[0]["reason"] and "11-test" in rows[1]["reason"]

    # additions (checksummed manifest) and removals (READY)
    adds = {"erbij.txt": "\n".join(B[10:13]).encode()}
    tenant.upload_drop("erbij", adds, marker="manifest.json",
                       marker_content=manifest("", adds, kind="population", mode="additions") .replace(
                           b'"message_type": "",', b""))
    tenant.upload_drop("eraf", {"eraf.csv": f"{B[0]}\n{B[1]}\n{B[29]}\n".encode()},
                       marker_content=population_ready("removals"))
    results = {r["name"]: r for r in run_intake()}
    assert {n: r["status"] for n, r in results.items()} == {"erbij": "closed", "eraf": "closed"}
    assert members(configured) == sorted([*B[2:13], eight_digit])
    outbox = tenant.outbox()
    assert ack_of(outbox, "erbij")["population"]["added"] == 3
    eraf = ack_of(outbox, "eraf")["population"]
    assert (eraf["version"], eraf["removed"], eraf["unchanged"], eraf["members"]) == (2, 2, 1, 9)  # drops in name order

    # the same full list again: recognised as a re-upload, not applied again
    tenant.upload_drop("inwoners-again", {"inwoners.csv": body.encode()},
                       marker_content=population_ready("full", drop_id="inw-1"))
    [again] = run_intake()
    assert again["status"] == "duplicate"
    assert members(configured) == sorted([*B[2:13], eight_digit])


def test_a_population_drop_with_a_message_list_or_pdfs_is_rejected_as_a_whole(tenant, configured):
    tenant.upload_drop("verkeerd", {"teksten.csv": f"bsn;tekst\r\n{B[0]};Hallo\r\n".encode(),
                                    f"{B[0]}_1.pdf": b"%PDF-1.4 nope"},
                       marker_content=population_ready())
    [result] = run_intake()
    assert result["status"] == "rejected"
    outbox = tenant.outbox()
    notice = next(v for n, v in outbox.items() if n.endswith(".rejected.txt")).decode()
    assert "one column of BSNs only" in notice and "has no PDFs" in notice
    assert members(configured) == []
    assert configured.execute("SELECT count(*) AS n FROM population_versions").fetchone()["n"] == 0


def test_a_population_marker_with_a_message_type_or_a_bad_mode_is_refused(tenant, configured):
    tenant.upload_drop("mix", {"a.csv": f"{B[0]}\n".encode()},
                       marker_content=b"kind: population\r\nmode: everything\r\nmessage_type: PASPRT\r\n")
    [result] = run_intake()
    assert result["status"] == "rejected"
    notice = next(v for n, v in tenant.outbox().items() if n.endswith(".rejected.txt")).decode()
    assert "\"mode\" must be one of full, additions, removals" in notice
    assert "has no message_type" in notice
