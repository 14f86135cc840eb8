"""The restore drill (issue 19, scripts/restore_drill.py) on a small database: real
pg_dump/pg_restore of the server's version, a fresh database restored, every table and
sequence compared — and a change in the restored copy is found and named."""

from __future__ import annotations

import importlib.util
import sys

import psycopg
import pytest

from bbx import settings
from bbx.store import db as store_db
from bbx.store.db import sibling_url

_spec = importlib.util.spec_from_file_location("restore_drill", settings.PROJECT_ROOT / "scripts" / "restore_drill.py")
drill = importlib.util.module_from_spec(_spec)
sys.modules["restore_drill"] = drill  # its dataclasses look their module up
_spec.loader.exec_module(drill)


@pytest.fixture
def source_and_target(database_url):
    name = database_url.rsplit("/", 1)[-1]
    source, target = sibling_url(database_url, f"{name}_src"), sibling_url(database_url, f"{name}_dst")
    drill.generate(source, 2_500)
    yield source, target
    for url in (source, target):
        store_db.drop_database(url)


def test_the_drill_restores_everything_and_finds_a_changed_row(source_and_target, capsys):
    source, target = source_and_target
    before = drill.fingerprint(source)
    assert before.tables["messages"][0] == 2_500 and before.tables["submissions"][0] == 1
    assert before.tables["audit_log"][0] >= 26  # one a submission, one per 100 messages (and the config's)
    with psycopg.connect(source) as conn:  # the generated BSNs pass the 11-test
        from bbx.domain import bsn

        numbers = [r[0] for r in conn.execute("SELECT bsn FROM bbx.messages")]
    assert len(set(numbers)) == 2_500 and all(bsn.check(n).error is None for n in numbers)

    assert drill.drill(source, target, keep=True) == []
    out = capsys.readouterr().out
    assert "pg_dump --format=custom" in out and "pg_restore into a fresh database" in out
    assert f"server PostgreSQL {drill.server_major(source)}" in out
    assert drill.fingerprint(target).tables == before.tables

    with psycopg.connect(target) as conn:  # what a broken restore would look like
        conn.execute("UPDATE bbx.submissions SET submitted_by = 'someone else'")
        conn.execute("SELECT setval('bbx.messages_id_seq', 1)")
    found = drill.differences(before, drill.fingerprint(target))
    assert [f.split(":")[0] for f in found] == ["table submissions", "sequence messages_id_seq"]


def test_the_tool_matches_the_server_version():
    major = drill.server_major(sibling_url(settings.database_url(), "postgres"))
    for name in ("pg_dump", "pg_restore"):
        assert drill._major(drill.pg_tool(name, major)) == major
    with pytest.raises(SystemExit, match="no pg_dump for PostgreSQL 99"):
        drill.pg_tool("pg_dump", 99)
