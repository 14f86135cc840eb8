"""The register export of a connection with a population (issue 16), the population
split of the sign-up/sign-off report, and the set-based apply: real PostgreSQL, real SFTP."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
from register_helpers import Driver, answer_gzip, moment

from bbx.domain import bsn as bsn_rules
from bbx.intake import population as intake
from bbx.register.export import export_register
from bbx.store import population as store
from bbx.store import register

pytestmark = pytest.mark.usefixtures("english")  # these tests pin the English wording

DAY = date(2026, 3, 5)
A, B, C, D, E = sorted(bsn_rules.generate(5, seed=61))


@pytest.fixture
def registered(db, connection):
    driver = Driver(db, connection, None)
    refresh = driver.ask(DAY)
    driver.answer(refresh, DAY, answer_gzip(str(refresh["request_id"]), moment(DAY), [
        (A, date(2026, 3, 1), date(2026, 4, 1)),
        (B, date(2019, 1, 31), None),
        (C, date(2026, 3, 2), None),
        (D, date(2026, 1, 1), date(2026, 3, 3)),  # signed off on the 3rd
    ]))
    driver.apply(refresh)
    return connection


def hand_in(tmp_path, connection, lines: list[str], mode: str = "full", key: str = "k1") -> dict:
    path = tmp_path / f"{key}.csv"
    path.write_text("\n".join(lines) + "\n")
    return intake.hand_in_file(connection, path, file_name="population.csv", mode=mode, channel="api",
                               external_ref=key, submitted_by="test")


def set_scope(db, connection, scope: str) -> None:
    db.execute("UPDATE connections SET register_export_scope = %s WHERE id = %s", (scope, connection["id"]))
    db.commit()


def test_population_export_holds_the_intersection_and_counts_beside_it(db, sftp, registered, tmp_path):
    set_scope(db, registered, "population")
    assert export_register("gemeente_t", DAY)["skipped"].endswith("no population list was handed in yet")

    handed = hand_in(tmp_path, registered, ["bsn", A, C, D, E, A, "12345678"])
    assert handed["population"] == {"version": 1, "mode": "full", "rows_handed_in": 6, "rows_rejected": 2,
                                    "added": 4, "removed": 0, "unchanged": 0, "members": 4}
    assert [(r["row"], r["reason"][:20]) for r in handed["rejected_rows"]] == [
        (6, "the BSN is also on r"), (7, "BSN has 8 digits and")]

    result = export_register("gemeente_t", DAY)
    outbox = sftp / "gemeente-t" / "gemeente_t" / "outbox"
    content = (outbox / "register-gemeente_t-2026-03-05.csv").read_bytes()
    # BBX's one outbox dialect (bbx.domain.csvfile): BOM, ';', CR LF
    assert content == f"\ufeffbsn;begin_date;end_date\r\n{A};2026-03-01;2026-04-01\r\n{C};2026-03-02;\r\n".encode()
    digest = hashlib.sha256(content).hexdigest()
    assert (outbox / "register-gemeente_t-2026-03-05.csv.sha256").read_text() == \
        f"{digest}  register-gemeente_t-2026-03-05.csv\n"
    companion = json.loads((outbox / "register-gemeente_t-2026-03-05.json").read_text())
    assert companion == {"connection": "gemeente_t", "register_date": "2026-03-05", "scope": "population",
                         "file": "register-gemeente_t-2026-03-05.csv", "sha256": digest, "rows": 2,
                         "subscribed_in_population": 2, "subscribed_outside_population": 1,
                         "population_version": 1, "population_members": 4}
    assert (result["rows"], result["subscribed_in_population"], result["subscribed_outside_population"]) == (2, 2, 1)
    assert sorted(p.name for p in outbox.iterdir()) == [  # nothing half-written left
        "register-gemeente_t-2026-03-05.csv", "register-gemeente_t-2026-03-05.csv.sha256",
        "register-gemeente_t-2026-03-05.json"]
    row = db.execute("SELECT * FROM register_exports WHERE connection_id = %s", (registered["id"],)).fetchone()
    assert (row["scope"], row["subscribed_in_population"], row["subscribed_outside_population"],
            row["population_version"]) == ("population", 2, 1, 1)

    # full scope: the whole register, counts still beside it
    set_scope(db, registered, "full")
    full = export_register("gemeente_t", DAY, force=True)
    assert full["rows"] == 3 and full["subscribed_outside_population"] == 1


def test_population_modes_and_idempotent_hand_in(db, registered, tmp_path):
    hand_in(tmp_path, registered, [A, B, C])
    again = hand_in(tmp_path, registered, [A, B, C])
    assert again["replayed"] and again["population"]["version"] == 1
    with pytest.raises(intake.IdempotencyConflict):
        hand_in(tmp_path, registered, [A, B])
    hand_in(tmp_path, registered, [D, A], mode="additions", key="k2")
    removed = hand_in(tmp_path, registered, [B, E], mode="removals", key="k3")
    assert removed["population"] | {} == {"version": 3, "mode": "removals", "rows_handed_in": 2, "rows_rejected": 0,
                                         "added": 0, "removed": 1, "unchanged": 1, "members": 3}
    replaced = hand_in(tmp_path, registered, [E, A], key="k4")
    assert (replaced["population"]["added"], replaced["population"]["removed"]) == (1, 2)
    assert [store.is_member(db, registered["id"], b) for b in (A, B, C, D, E)] == [True, False, False, False, True]
    history = db.execute("SELECT bsn, count(*) AS n FROM population_members WHERE connection_id = %s GROUP BY bsn",
                         (registered["id"],)).fetchall()
    assert {r["bsn"]: r["n"] for r in history} == {A: 1, B: 1, C: 1, D: 1, E: 1}  # history kept, never deleted
    sub = db.execute("SELECT kind, status, channel FROM submissions WHERE id = %s",
                     (replaced["submission_id"],)).fetchone()
    assert dict(sub) == {"kind": "population", "status": "closed", "channel": "api"}


def test_a_list_with_other_columns_is_refused_whole_and_nothing_is_stored(db, registered, tmp_path):
    with pytest.raises(intake.PopulationRefused, match="one column of BSNs only"):
        hand_in(tmp_path, registered, ["bsn;tekst", f"{A};hallo"])
    assert store.current(db, registered["id"]) is None
    assert db.execute("SELECT count(*) AS n FROM submissions").fetchone()["n"] == 0


def test_register_changes_split_by_population(db, registered, tmp_path):
    hand_in(tmp_path, registered, [A, D])
    split = store.changes_split(db, registered["id"], date(2026, 3, 1), date(2026, 3, 5), with_bsns=True)
    assert split == {
        "in_population": {"signups": 1, "signoffs": 1, "signup_bsns": [A], "signoff_bsns": [D]},
        "outside_population": {"signups": 1, "signoffs": 0, "signup_bsns": [C], "signoff_bsns": []},
    }
    total = register.changes(db, registered["id"], date(2026, 3, 1), date(2026, 3, 5))
    assert total == {"signups": 2, "signoffs": 1}


def test_a_population_hand_in_gets_no_delivery_result_files(db, registered, tmp_path):
    from bbx.store import result_files as result_file_store

    handed = hand_in(tmp_path, registered, [A, B])
    assert db.execute("SELECT status FROM submissions WHERE id = %s", (handed["submission_id"],)).fetchone()[
        "status"] == "closed"
    assert handed["submission_id"] not in [s["id"] for s in result_file_store.unreported_submissions(db)]
