"""``bbx keys rotate`` (issue 10 item 5): stored texts and PDFs re-encrypted with the newest
content key, in batches, resumable after a stop and after ``kill -9``; afterwards the old
key can go. Real parts: PostgreSQL, the web service to hand in content, the ``bbx``
command in its own process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from api_helpers import auth, bsns, make_pdf, send, upload
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bbx import crypto
from bbx.store import db as store_db

BBX = [str(Path(sys.executable).with_name("bbx"))]


def _stored(db) -> dict[tuple, bytes]:
    db.rollback()
    out = {("t", r["id"]): bytes(r["text_encrypted"])
           for r in db.execute("SELECT id, text_encrypted FROM messages WHERE text_encrypted IS NOT NULL")}
    out.update({("p", r["message_id"], r["position"]): bytes(r["content_encrypted"])
                for r in db.execute("SELECT message_id, position, content_encrypted FROM message_attachments")})
    return out


def _under(tokens: dict, key: bytes) -> int:
    f = Fernet(key)
    n = 0
    for token in tokens.values():
        try:
            f.extract_timestamp(token)
            n += 1
        except InvalidToken:
            pass
    return n


def _run(env, *args, **kwargs):
    return subprocess.run([*BBX, "keys", *args], env=env, capture_output=True, text=True, timeout=300, **kwargs)


def test_rotate_in_batches_survives_stop_and_kill_then_old_key_retires(client, keys, configured, content_key,
                                                                      database_url, monkeypatch):
    db = configured
    assert send(client, keys.a, message_type="PASPRT", bsns=bsns(400, seed=41), text="Persoonlijk").status_code == 201
    targets = bsns(2, seed=42)
    headers = {**auth(keys.a), "Idempotency-Key": str(uuid.uuid4())}
    response = client.post("/api/v1/connections/voorbeeld/messages", headers=headers,
                           data={"request": json.dumps({"message_type": "WOZ2026", "bsns": targets})},
                           files=[upload(f"{targets[0]}_1.pdf", make_pdf("a")),
                                  upload(f"{targets[1]}_1.pdf", make_pdf("b"))])
    assert response.status_code == 201, response.text
    before = _stored(db)
    total = len(before)
    assert total == 402
    old_key = content_key.read_bytes().strip()
    plain = {k: Fernet(old_key).decrypt(v) for k, v in before.items()}
    new_key = Fernet.generate_key()
    env = {**os.environ, "BBX_CONTENT_KEYS": f"{new_key.decode()},{old_key.decode()}"}

    # status: everything under the older key (exit 1)
    status = _run(env, "status")
    assert status.returncode == 1 and "texts: 400 stored, 400 under an older key" in status.stdout

    # a run stopped after 3 batches of 10: exactly those 30 are done, each batch committed
    stopped = _run(env, "rotate", "--batch-size", "10", "--max-batches", "3")
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr
    assert "texts: 30/400 checked, 30 re-encrypted (batch 3)" in stopped.stdout
    assert _under(_stored(db), new_key) == 30

    # kill -9 in the middle of a run: a row of batch 14 is locked here, so the run is
    # certainly inside that batch's transaction when it dies
    text_ids = [r["id"] for r in db.execute("SELECT id FROM messages WHERE text_encrypted IS NOT NULL ORDER BY id")]
    db.rollback()
    with store_db.connect(database_url) as blocker:
        blocker.execute("SELECT 1 FROM messages WHERE id = %s FOR UPDATE", (text_ids[65],))
        proc = subprocess.Popen([*BBX, "keys", "rotate", "--batch-size", "5"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "(batch 13)" in line:  # 30 skipped in batches 1-6, 35 re-encrypted in 7-13
                break
        time.sleep(0.5)  # let it reach the locked row
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL, "".join(seen)
        middle = _stored(db)
        done = _under(middle, new_key)
        blocker.rollback()
    assert done == 65  # the committed batches, nothing of the one it was in
    both = MultiFernet([Fernet(new_key), Fernet(old_key)])
    assert {k: both.decrypt(v) for k, v in middle.items()} == plain  # nothing lost or half-written

    # the next run continues: skips what is done, finishes the rest
    resumed = _run(env, "rotate", "--batch-size", "50")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"texts: 400 checked, {400 - done} re-encrypted" in resumed.stdout
    assert "pdfs: 2 checked, 2 re-encrypted" in resumed.stdout
    after = _stored(db)
    assert _under(after, new_key) == total
    assert {k: Fernet(new_key).decrypt(v) for k, v in after.items()} == plain
    assert _run(env, "status").returncode == 0
    again = _run(env, "rotate")
    assert again.returncode == 0 and "texts: 400 checked, 0 re-encrypted" in again.stdout
    assert _stored(db) == after  # nothing rewritten

    # a key removed too early: a clear stop, nothing changed
    third = Fernet.generate_key()
    broken = _run({**env, "BBX_CONTENT_KEYS": f"{third.decode()},{old_key.decode()}"}, "rotate")
    assert broken.returncode == 1 and "none of the 2 configured keys decrypts it" in broken.stderr
    assert _stored(db) == after

    # the old key retires: BBX reads everything with the new key alone
    monkeypatch.setenv("BBX_CONTENT_KEYS", new_key.decode())
    crypto.reload_keys()
    try:
        assert {k: crypto.decrypt(v) for k, v in after.items()} == plain
    finally:
        monkeypatch.delenv("BBX_CONTENT_KEYS")
        crypto.reload_keys()
    audits = db.execute("SELECT details FROM audit_log WHERE action = 'keys.rotated' ORDER BY id").fetchall()
    assert [a["details"]["complete"] for a in audits] == [False, True, True]  # the killed and the broken run: none


def test_keys_add_puts_a_new_key_first_in_the_key_file(tmp_path):
    key_file = tmp_path / "content.key"
    env = {k: v for k, v in os.environ.items() if k != "BBX_CONTENT_KEYS"}
    env["BBX_KEY_FILE"] = str(key_file)
    assert _run(env, "init").returncode == 0
    first = key_file.read_bytes().strip()
    added = _run(env, "add")
    assert added.returncode == 0, added.stderr
    lines = key_file.read_bytes().split()
    assert len(lines) == 2 and lines[1] == first and lines[0] != first
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    refused = _run({**env, "BBX_CONTENT_KEYS": first.decode()}, "add")
    assert refused.returncode == 2 and "BBX_CONTENT_KEYS is set" in refused.stderr
