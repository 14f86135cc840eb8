"""The demo's population (bbx.demo_population) against the running simulator: the
register of the connection built through the Berichtenbox hook, the demo's population
list handed in as an SFTP drop of kind population, and the export shows exactly the
intersection (issue 16: "the export of the demo's voorbeeld connection shows the
intersection")."""

from __future__ import annotations

import io
import json
import time
from datetime import date

from register_helpers import OIN_A

from bbx import demo_population
from bbx.intake import steps
from bbx.register import refresh as shell
from bbx.register.export import export_register
from bbx.store import register as store

DAY = date(2026, 11, 2)


def test_demo_population_drop_and_the_export_shows_the_intersection(db, sim, sftp):
    sim.admin.set_today(DAY)
    shell.request_refresh("gemeente_t", DAY)
    deadline = time.monotonic() + 30
    while not shell.answer_ready("gemeente_t", DAY):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert shell.apply_refresh("gemeente_t", DAY).outcome == "applied"
    cid = db.execute("SELECT id FROM connections WHERE code = 'gemeente_t'").fetchone()["id"]
    subscribed = set(store.subscribed_on(db, cid, DAY, with_bsns=True)["bsns"])

    bsns = demo_population.population_bsns(sim.admin, OIN_A, subscribed=600, never=50)
    files = demo_population.population_drop(bsns, stamp="t1")
    steps.find_drops("gemeente_t")  # creates the folders
    inbox = sftp / "gemeente-t" / "gemeente_t" / "inbox" / "inwoners-t1"
    inbox.mkdir()
    (inbox / "inwoners.csv").write_bytes(files["inwoners.csv"])
    (inbox / "READY").write_bytes(files["READY"])
    [found] = steps.find_drops("gemeente_t")
    result = steps.acknowledge_drop(steps.validate_drop(steps.receive_drop(found)))
    assert (result["status"], result["rejected_rows"]) == ("closed", 0)

    db.execute("UPDATE connections SET register_export = true, register_export_scope = 'population' WHERE id = %s",
               (cid,))
    db.commit()
    exported = export_register("gemeente_t", DAY)
    outbox = sftp / "gemeente-t" / "gemeente_t" / "outbox"
    lines = (outbox / "register-gemeente_t-2026-11-02.csv").read_text(encoding="utf-8-sig").splitlines()
    in_export = {line.split(";")[0] for line in lines[1:]}
    expected = subscribed & set(bsns)
    assert in_export == expected and 0 < len(expected) < len(subscribed)
    companion = json.loads((outbox / "register-gemeente_t-2026-11-02.json").read_text())
    assert companion["subscribed_in_population"] == len(expected) == exported["rows"]
    assert companion["subscribed_outside_population"] == len(subscribed - set(bsns))
    assert companion["population_members"] == len(bsns)
    ack = next(p for p in outbox.iterdir() if p.name.endswith(".ack.json"))
    assert json.load(io.BytesIO(ack.read_bytes()))["population"]["members"] == len(bsns)
