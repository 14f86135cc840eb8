"""Standard texts uploaded through the web service, versioned (issue 18): the version is
fixed when a submission's rows are planned, and building a batch uses that version."""

from __future__ import annotations

from api_helpers import auth, bsns, send, sign_in

from bbx.config.model import load
from bbx.delivery import build
from bbx.store import administration, batches, handins, standard_texts

URL = "/api/v1/connections/voorbeeld/message-types/PASPRT/standard-text"


def _put(client, key: str, text: bytes, content_type: str = "text/plain; charset=utf-8"):
    return client.put(URL, content=text, headers={**auth(key), "Content-Type": content_type})


def _built_text_contains(db, submission_id: int, needle: str) -> bool:
    sub = db.execute("SELECT s.connection_id, c.code FROM submissions s JOIN connections c ON c.id = s.connection_id"
                     " WHERE s.id = %s", (submission_id,)).fetchone()
    [batch_id] = batches.cut_into_batches(db, submission_id, connection_id=sub["connection_id"],
                                          connection_code=sub["code"])
    built = build.build(db, batches.batch(db, batch_id))
    return needle in built.payload.decode("utf-8")


def test_upload_makes_a_version_that_new_submissions_use_and_old_ones_keep(client, keys, configured):
    db = configured
    first = send(client, keys.a, bsns=bsns(3, seed=1)).json()["id"]  # planned with the config's text (version 1)

    response = _put(client, keys.a, b"Nieuwe tekst voor het paspoort, versie twee.\r\n")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["current"] == 2
    assert [(v["version"], v["source"]) for v in body["versions"]] == [(2, "api"), (1, "config")]
    assert body["versions"][0]["text"] == "Nieuwe tekst voor het paspoort, versie twee."
    assert body["versions"][0]["actor"] == f"api-key:{keys.a_prefix}"

    second = send(client, keys.a, bsns=bsns(3, seed=2)).json()["id"]
    db.rollback()
    recorded = {r["submission_id"]: r["version"] for r in db.execute(
        """SELECT DISTINCT m.submission_id, v.version FROM messages m
           JOIN standard_text_versions v ON v.id = m.standard_text_version_id
           WHERE m.submission_id = ANY(%s)""", ([first, second],))}
    assert recorded == {first: 1, second: 2}

    # an operator rolls back to version 1 while both are in flight: each keeps its own text
    type_id = handins.message_type(db, db.execute("SELECT id FROM connections WHERE code = 'voorbeeld'")
                                   .fetchone()["id"], "PASPRT")["id"]
    rolled = standard_texts.rollback(db, type_id, 1, actor="cli:ops")
    db.commit()
    assert rolled["version"] == 3
    assert _built_text_contains(db, second, "versie twee")
    assert not _built_text_contains(db, first, "versie twee")
    third = send(client, keys.a, bsns=bsns(3, seed=3)).json()["id"]
    db.rollback()
    assert not _built_text_contains(db, third, "versie twee")  # version 3 = version 1's text

    actions = [(r["action"], r["details"]["version"]) for r in db.execute(
        "SELECT action, details FROM audit_log WHERE action LIKE 'standard_text.%%' ORDER BY id")]
    assert actions[-2:] == [("standard_text.changed", 2), ("standard_text.rolled_back", 3)]


def test_reapplying_the_config_keeps_an_upload_and_a_changed_config_text_wins(client, keys, configured,
                                                                              sample_config_path):
    db = configured
    assert _put(client, keys.a, b"Tekst uit een upload.").status_code == 200
    config = load(sample_config_path)
    administration.apply_config(db, config, actor="test")
    db.commit()
    listed = client.get(URL, headers=auth(keys.a)).json()
    assert listed["current"] == 2 and listed["versions"][0]["text"] == "Tekst uit een upload."

    [tenant] = [t for t in config.tenants if any(c.code == "voorbeeld" for c in t.connections)]
    [mt] = [m for c in tenant.connections if c.code == "voorbeeld" for m in c.message_types if m.code == "PASPRT"]
    object.__setattr__(mt, "standard_text", "Tekst uit de gewijzigde config.")
    administration.apply_config(db, config, actor="test")
    db.commit()
    listed = client.get(URL, headers=auth(keys.a)).json()
    assert [(v["version"], v["source"]) for v in listed["versions"]][:2] == [(3, "config"), (2, "api")]
    assert listed["versions"][0]["text"] == "Tekst uit de gewijzigde config."


def test_an_invalid_upload_is_refused_and_changes_nothing(client, keys, configured):
    bad_utf8 = _put(client, keys.a, b"Geachte \xff heer")
    assert bad_utf8.status_code == 422 and bad_utf8.json()["error"]["code"] == "invalid_standard_text"
    nested = _put(client, keys.a, b"Beste ((naam)), ((partner??ook ((naam)) ))")
    assert nested.status_code == 422 and "partner" in nested.json()["error"]["message"]
    too_long = _put(client, keys.a, b"a" * 4001)
    assert too_long.status_code == 422
    assert _put(client, keys.a, b'{"text": "x"}', "application/json").status_code == 415
    unknown = client.put(URL.replace("PASPRT", "NOPE"), content=b"x", headers={**auth(keys.a),
                                                                                 "Content-Type": "text/plain"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_message_type"
    assert client.get(URL, headers=auth(keys.a)).json()["current"] == 1


def test_another_tenant_cannot_see_or_replace_the_text(client, keys, configured):
    assert _put(client, keys.b, b"Niet van jou.").status_code == 404
    assert client.get(URL, headers=auth(keys.b)).status_code == 404
    assert client.get(URL, headers=auth(keys.operator)).status_code == 200


def test_operator_lists_shows_and_rolls_back_on_the_command_line(client, keys, configured, capsys):
    from bbx.cli import main as bbx_main

    db = configured
    assert _put(client, keys.a, b"Een geuploade tekst.").status_code == 200
    assert bbx_main(["standard-texts", "list", "voorbeeld", "PASPRT"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("v2") and " api " in listed[0] and listed[0].endswith("current")
    assert listed[1].startswith("v1") and " config " in listed[1]
    assert bbx_main(["standard-texts", "show", "voorbeeld", "PASPRT"]) == 0
    assert capsys.readouterr().out.strip() == "Een geuploade tekst."

    assert bbx_main(["standard-texts", "rollback", "voorbeeld", "PASPRT", "1"]) == 0
    capsys.readouterr()
    db.rollback()
    current = client.get(URL, headers=auth(keys.a)).json()
    assert current["current"] == 3 and current["versions"][0]["rolled_back_from"] == 1
    assert current["versions"][0]["text"] == current["versions"][2]["text"]
    assert current["versions"][0]["actor"].startswith("cli:")
    entry = db.execute("SELECT actor, details FROM audit_log WHERE action = 'standard_text.rolled_back'").fetchone()
    assert entry["details"]["rolled_back_from"] == 1 and entry["actor"].startswith("cli:")

    assert bbx_main(["standard-texts", "rollback", "voorbeeld", "PASPRT", "9"]) == 2
    assert bbx_main(["standard-texts", "list", "voorbeeld", "NOPE"]) == 2


def test_the_home_page_shows_each_types_current_version(client, keys, configured):
    assert _put(client, keys.a, b"Een geuploade tekst.").status_code == 200
    sign_in(client, keys.operator)
    page = client.get("/").text
    assert "standard text v2 (api)" in page  # PASPRT, just uploaded
    assert "standard text v1 (config)" in page  # the other tenants' types


def test_every_message_shows_its_version_in_the_result_file_the_rows_and_the_lookups(client, keys, configured,
                                                                                    tmp_path):
    import csv
    import io

    from api_helpers import set_outcomes

    from bbx.delivery import outbox, results
    from bbx.domain import delivery as result_rules

    db = configured
    citizens = bsns(2, seed=21)
    first = send(client, keys.a, bsns=citizens[:1]).json()["id"]  # version 1 (the config's)
    assert _put(client, keys.a, b"Versie twee van de tekst.").status_code == 200
    second = send(client, keys.a, bsns=citizens[1:] + ["123456789"]).json()  # one BSN fails the 11-test
    assert second.get("id") is None  # refused as a whole: the API checks the request first
    second = send(client, keys.a, bsns=citizens[1:]).json()["id"]
    db.rollback()

    # the web service's rows (JSON and CSV) and its BSN lookup
    rows = client.get(f"/api/v1/submissions/{second}/messages", headers=auth(keys.a)).json()["rows"]
    assert [r["standard_text_version"] for r in rows] == [2]
    listed = client.get(f"/api/v1/submissions/{second}/messages?format=csv", headers=auth(keys.a)).text
    header, line = list(csv.reader(io.StringIO(listed.lstrip("\ufeff"))))[:2]
    assert header[-1] == "standard_text_version" and line[-1] == "2"
    looked_up = client.post("/api/v1/bsn-lookup", json={"bsn": citizens[0]}, headers=auth(keys.a)).json()
    assert [m["standard_text_version"] for m in looked_up["connections"][0]["messages"]] == [1]

    # the pages: the submission's rows and the BSN lookup link to the version
    sign_in(client, keys.a)
    page = client.get(f"/submissions/{second}").text
    assert 'href="/standard-texts/voorbeeld/PASPRT#v2">v2</a>' in page
    lookup_page = client.post("/lookup", data={"bsn": citizens[0]}).text
    assert 'href="/standard-texts/voorbeeld/PASPRT#v1">v1</a>' in lookup_page

    # the tenant's result file (Dutch, the connection's language): the version is the last column
    db.execute("UPDATE submissions SET status = 'delivering' WHERE id = %s", (first,))  # as delivery's plan does
    set_outcomes(db, first, {1: ("delivered", "Verwerkt", None)})
    summary = results.CollectSummary()
    results.close_reconciled(db, summary, submission_ids=[first])
    results.write_reports(db, outbox.folder_writer(tmp_path), summary, submission_ids=[first])
    assert summary.reported == [first]
    folder = db.execute("SELECT sftp_folder FROM connections WHERE code = 'voorbeeld'").fetchone()["sftp_folder"]
    name, _paper = result_rules.result_file_names(first, "api")
    table = list(csv.reader(io.StringIO((tmp_path / folder.lstrip("/") / "outbox" / name)
                                        .read_bytes().decode("utf-8-sig")), delimiter=";"))
    assert table[0] == ["regel", "bsn", "uitkomst", "outcome", "code", "toelichting", "bericht_id", "afgerond_op",
                        "standaardtekst_versie"]
    assert table[1][1] == citizens[0] and table[1][-1] == "1"
