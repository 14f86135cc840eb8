"""Standard texts uploaded over SFTP (issue 18, docs/drop-protocol.md §2.7):
``inbox/standard-texts/<CODE>.txt`` becomes a new version, answered in outbox/; a drop
handed in after it records and uses that version. Real SFTP server (asyncssh over TCP),
real PostgreSQL, the real intake steps."""

from __future__ import annotations

import io

from intake_helpers import CONNECTION, csv_bytes, run_intake

from bbx import crypto
from bbx.domain import bsn as bsn_rules
from bbx.intake import steps

FOLDER = f"/{CONNECTION}/inbox/standard-texts"


def _put(tenant, name: str, content: bytes) -> None:
    if "standard-texts" not in tenant.listdir(f"/{CONNECTION}/inbox"):
        tenant.sftp.mkdir(FOLDER)
    tenant.sftp.putfo(io.BytesIO(content), f"{FOLDER}/{name}")


def test_an_uploaded_text_is_a_new_version_that_the_next_drop_uses(tenant, configured):
    db = configured
    _put(tenant, "PASPRT.txt", "\ufeffBeste ((naam)),\r\n\r\nUw paspoort verloopt. Groet uit de upload.\r\n".encode())
    assert steps.find_drops(CONNECTION) == []  # the folder is no drop
    outbox = tenant.outbox()
    assert "Beste ((naam))," in outbox["standard-texts.PASPRT.v2.txt"].decode()
    assert tenant.listdir(FOLDER) == []

    numbers = list(bsn_rules.generate(2, seed=211))
    tenant.upload_drop("juni", {"lijst.csv": csv_bytes("bsn;((naam))\n" + "\n".join(f"{n};Jan" for n in numbers) + "\n")})
    (result,) = run_intake()
    db.rollback()
    rows = db.execute(
        """SELECT v.version, v.source, v.actor, m.outcome FROM messages m
           JOIN standard_text_versions v ON v.id = m.standard_text_version_id ORDER BY m.row_number""").fetchall()
    assert [(r["version"], r["source"], r["outcome"]) for r in rows] == [(2, "sftp", "planned")] * 2, result
    assert rows[0]["actor"] == "sftp:voorbeeld:standard-texts/PASPRT.txt"
    texts = db.execute("SELECT text_encrypted FROM messages ORDER BY row_number").fetchall()
    filled = [crypto.decrypt_text(t["text_encrypted"]) for t in texts]  # filled in per citizen from version 2
    assert filled == ["Beste Jan,\r\n\r\nUw paspoort verloopt. Groet uit de upload."] * 2
    entry = db.execute("SELECT details FROM audit_log WHERE action = 'standard_text.changed'"
                       " ORDER BY id DESC LIMIT 1").fetchone()
    assert entry["details"]["source"] == "sftp" and entry["details"]["version"] == 2


def test_an_unknown_code_or_a_broken_file_is_refused_in_the_outbox(tenant, configured):
    _put(tenant, "NOPE.txt", b"Een tekst.")
    _put(tenant, "WOZ2026.txt", b"Geen \xff UTF-8")
    _put(tenant, "PASPRT.txt.part", b"nog bezig")
    steps.find_drops(CONNECTION)
    outbox = tenant.outbox()
    assert "no message type NOPE" in outbox["standard-texts.NOPE.txt.refused.txt"].decode() or \
        "geen berichttype NOPE" in outbox["standard-texts.NOPE.txt.refused.txt"].decode()
    assert "UTF-8" in outbox["standard-texts.WOZ2026.txt.refused.txt"].decode()
    assert tenant.listdir(FOLDER) == ["PASPRT.txt.part"]  # not complete yet: left alone
    configured.rollback()
    assert configured.execute("SELECT count(*) AS n FROM standard_text_versions WHERE source = 'sftp'"
                              ).fetchone()["n"] == 0
