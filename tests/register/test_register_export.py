"""The daily register export: CSV + sha256 into the tenant's outbox over real SFTP."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from register_helpers import OIN_B, Driver, answer_gzip, make_connection, moment

from bbx.domain import bsn as bsn_rules
from bbx.register.export import export_register
from bbx.store import register_exports as export_store

DAY = date(2026, 3, 5)
A, B, C = sorted(bsn_rules.generate(3, seed=21))


@pytest.fixture
def registered(db, connection):
    driver = Driver(db, connection, None)
    refresh = driver.ask(DAY)
    driver.answer(refresh, DAY, answer_gzip(str(refresh["request_id"]), moment(DAY), [
        (C, date(2019, 1, 31), None),
        (A, date(2026, 3, 1), date(2026, 4, 1)),  # a sign-off already announced
        (B, date(2026, 2, 1), date(2026, 3, 5)),  # ended today: not in the export
    ]))
    driver.apply(refresh)
    return connection


def test_export_writes_the_days_register_and_its_checksum(db, sftp, registered):
    result = export_register("gemeente_t", DAY)
    outbox = sftp / "gemeente-t" / "gemeente_t" / "outbox"
    csv_file = outbox / "register-gemeente_t-2026-03-05.csv"
    sum_file = outbox / "register-gemeente_t-2026-03-05.csv.sha256"
    content = csv_file.read_bytes()
    assert content == (  # BBX's outbox dialect (bbx.domain.csvfile): BOM, ';', CR LF
        "\ufeffbsn;begin_date;end_date\r\n"
        f"{A};2026-03-01;2026-04-01\r\n"
        f"{C};2019-01-31;\r\n"
    ).encode()
    digest = hashlib.sha256(content).hexdigest()
    assert sum_file.read_text() == f"{digest}  register-gemeente_t-2026-03-05.csv\n"
    assert sorted(p.name for p in outbox.iterdir()) == [csv_file.name, sum_file.name]  # no .part left
    assert result == {"path": "/gemeente-t/gemeente_t/outbox/register-gemeente_t-2026-03-05.csv",
                      "checksum_path": "/gemeente-t/gemeente_t/outbox/register-gemeente_t-2026-03-05.csv.sha256",
                      "rows": 2, "size_bytes": len(content), "sha256": digest}
    recorded = export_store.export_for(db, registered["id"], DAY)
    assert (recorded["rows"], recorded["sha256"]) == (2, digest)


def test_export_of_a_day_is_written_once_unless_forced(db, sftp, registered):
    first = export_register("gemeente_t", DAY)
    csv_file = sftp / first["path"].lstrip("/")
    csv_file.write_text("tampered")
    again = export_register("gemeente_t", DAY)
    assert again["skipped"].startswith("already exported") and again["sha256"] == first["sha256"]
    assert csv_file.read_text() == "tampered"
    forced = export_register("gemeente_t", DAY, force=True)
    assert forced["sha256"] == first["sha256"]
    assert hashlib.sha256(csv_file.read_bytes()).hexdigest() == first["sha256"]


def test_no_export_when_the_connection_does_not_ask_for_it(db, sftp):
    make_connection(db, "zonder_export", OIN_B, export=False)
    assert export_register("zonder_export", DAY) == {
        "skipped": "connection zonder_export does not ask for a register export"}
    assert list(sftp.iterdir()) == []


def test_an_empty_register_exports_the_header_only(db, sftp, connection):
    result = export_register("gemeente_t", DAY)
    assert result["rows"] == 0
    assert (sftp / result["path"].lstrip("/")).read_bytes() == "\ufeffbsn;begin_date;end_date\r\n".encode()
