"""End to end against the simulator over mTLS, a real PostgreSQL and a real SFTP server:
accepted submissions → GLOBE batches → ebMS adapter → results → closed submissions →
result files in the tenant's outbox. The simulator's inspection API checks that every
message BBX counts as delivered is in the citizen's box exactly once."""

from __future__ import annotations

from datetime import date, timedelta

from delivery_helpers import (
    Connection,
    airflow_connection,
    assert_exactly_once,
    bsns,
    deliver,
    pdf_bytes,
    personal,
    read_csv,
    rows_for,
)

from bbx.store import submissions


def test_drop_to_outbox_with_personal_pdfs_and_register_decisions(world):
    """Subscribed / not in the register / subscribed in our register but not at
    MijnOverheid (→ NietActiefOfGeabonneerd + a doubt); standard text with 2 standard
    PDFs; personal texts with 1–2 personal PDFs composed with 3 standard PDFs; a message
    whose attachments cannot fit in 500 kB is rejected before anything is sent."""
    subscribed, not_in_register, doubt = bsns(6, seed=41), bsns(3, seed=42), bsns(1, seed=43)
    world.subscribe("voorbeeld", subscribed)
    world.subscribe("voorbeeld", doubt, theirs=False)
    pasprt = world.submit("voorbeeld", "PASPRT", rows_for(subscribed + not_in_register + doubt),
                          external_ref="paspoort-2026-03")

    pension = bsns(4, seed=44)
    world.subscribe("pf_metaal", pension)
    big = bytes(pdf_bytes("groot")) + b"%" + b"0" * 520_000 + b"\n"  # a valid PDF padded past the limit
    upo_rows = [
        submissions.NewRow(1, pension[0], text="Uw pensioen: € 1.234,56 per maand.\nGroet,",
                           attachments=(personal(1, pdf_bytes("UPO Jan"), f"{pension[0]}.pdf"),)),
        submissions.NewRow(2, pension[1], text="Tweede brief",
                           attachments=(personal(1, pdf_bytes("deel 1"), f"{pension[1]}_1.pdf"),
                                        personal(2, pdf_bytes("deel 2", 2), f"{pension[1]}_2.pdf"))),
        submissions.NewRow(3, pension[2]),  # the standard text and standard PDFs only
        submissions.NewRow(4, pension[3], text="Te grote bijlage",
                           attachments=(personal(1, big, f"{pension[3]}.pdf"),)),
    ]
    upo = world.submit("pf_metaal", "UPO2026", upo_rows, external_ref="upo-2026")

    planned = deliver(world)
    assert sorted(planned["submissions"]) == sorted([pasprt, upo])

    outcomes = world.outcomes(pasprt)
    assert {outcomes[b] for b in subscribed} == {("delivered", "Verwerkt")}
    assert {outcomes[b] for b in not_in_register} == {("not_subscribed", "NotInRegister")}
    assert outcomes[doubt[0]] == ("not_subscribed", "NietActiefOfGeabonneerd")
    from bbx.store import register

    assert [d["bsn"] for d in register.open_doubts(world.db, world.connections["voorbeeld"].id)] == doubt
    world.db.commit()

    upo_outcomes = world.outcomes(upo)
    assert [upo_outcomes[b][0] for b in pension] == ["delivered", "delivered", "delivered", "rejected"]
    reason = world.db.execute("SELECT outcome_reason FROM messages WHERE bsn = %s AND submission_id = %s",
                              (pension[3], upo)).fetchone()["outcome_reason"]
    assert "500 kB" in reason and pension[3] not in reason
    world.db.commit()

    for sid, rows in ((pasprt, 10), (upo, 4)):
        assert world.status(sid) == "closed"
        counts = world.counts(sid)
        assert counts["rejected"] + counts["not_subscribed"] + counts["delivered"] + counts["failed"] == rows
    assert assert_exactly_once(world, [pasprt, upo]) == 9

    # what MijnOverheid received: the composed attachments (max 2 PDFs, personal first)
    box = world.sim.admin.box(pension[1])
    assert len(box) == 1 and box[0]["onderwerp"] == "Uw Uniform Pensioenoverzicht 2026"

    # the tenant's outbox: one row per input row, and the paper list
    outbox = world.outbox("voorbeeld")
    result = read_csv(outbox / f"paspoort-2026-03.s{pasprt}.results.csv")
    assert [int(r["regel"]) for r in result] == list(range(1, 11))
    assert {r["bsn"]: r["outcome"] for r in result} == {b: o for b, (o, _) in outcomes.items()}
    paper = read_csv(outbox / f"paspoort-2026-03.s{pasprt}.undeliverable.csv")
    assert sorted(r["bsn"] for r in paper) == sorted(not_in_register + doubt)
    upo_files = world.outbox("pf_metaal")
    assert read_csv(upo_files / f"upo-2026.s{upo}.undeliverable.csv") == []  # rejected: not for paper
    rejected = [r for r in read_csv(upo_files / f"upo-2026.s{upo}.results.csv") if r["uitkomst"] == "afgekeurd"]
    assert [(r["bsn"], r["code"]) for r in rejected] == [(pension[3], "NotSendable")]
    assert not [p for p in outbox.iterdir() if p.name.endswith(".part")]


def test_codes_mijnoverheid_answers_end_in_the_right_outcome(world, monkeypatch):
    """BerichtTypeNietOndersteund, PublicatieDatumLigtTeVerInDeToekomst,
    TechnischProbleem (resent with the same BerichtID, then Verwerkt), BerichtBestaatAl
    (the adapter processed a send whose answer was lost, BBX sent it again) and
    OinInCPAKomtNietOvereenMetOinInBericht."""
    sim = world.sim
    c = world.connections["voorbeeld"]
    # MijnOverheid knows only PASPRT for this sender: WOZ2026 is not supported there
    sim.admin.add_sender(c.oin, ["PASPRT"], cpa_id=c.cpa_id, population={"size": 0})
    numbers = bsns(8, seed=45)
    world.subscribe("voorbeeld", numbers)
    pasprt = world.submit("voorbeeld", "PASPRT", rows_for(numbers[1:6]))  # sent first
    woz = world.submit("voorbeeld", "WOZ2026", [
        submissions.NewRow(1, numbers[0], text="Uw WOZ-waarde"),
    ])
    late = date.today() + timedelta(days=20)
    world.db.execute("UPDATE messages SET publication_date = %s WHERE submission_id = %s AND row_number = 5",
                     (late, pasprt))
    world.db.commit()
    # two messages of the first batch get TechnischProbleem, and the answer to its send is
    # lost (processed, then the connection drops): the hook sends it again
    sim.admin.set_faults(next_technisch_probleem=2, next_drop_after_processing=1)

    # pf_zorg: at Logius, its CPA belongs to another OIN than the one BBX puts in batches
    z = world.connections["pf_zorg"]
    other_oin = "00000003999999990000"
    sim.admin.remove_sender(z.oin)
    sim.admin.add_sender(other_oin, ["UPO2026"], cpa_id=z.cpa_id, population={"size": 0})
    monkeypatch.setenv("AIRFLOW_CONN_BERICHTENBOX_PF_ZORG", airflow_connection(
        sim, Connection(z.id, z.code, other_oin, z.cpa_id, z.sftp_folder, z.types)))
    zorg_bsns = bsns(2, seed=46)
    world.subscribe("pf_zorg", zorg_bsns, theirs=False)
    zorg = world.submit("pf_zorg", "UPO2026", rows_for(zorg_bsns))

    deliver(world)
    assert world.outcomes(woz)[numbers[0]] == ("failed", "BerichtTypeNietOndersteund")
    p = world.outcomes(pasprt)
    assert p[numbers[5]] == ("failed", "PublicatieDatumLigtTeVerInDeToekomst")
    delivered = [p[b] for b in numbers[1:5]]
    assert {o for o, _ in delivered} == {"delivered"}
    codes = {code for _, code in delivered}
    # the hook's resend of the same BatchID (its answer was lost) put the two
    # TechnischProbleem messages in the box: that Verwerkt wins at once (delivery evidence
    # wins), and the resend batch BBX had planned for them is closed unsent
    assert codes == {"Verwerkt"}
    assert sim.admin.stats()["batch_ids_received_more_than_once"] == 1
    unsent = world.db.execute("SELECT count(*) AS n FROM batches WHERE kind = 'resend' AND status = 'failed' "
                              "AND last_error LIKE 'not sent: its messages were delivered%'").fetchone()["n"]
    assert unsent == 1
    assert {o for o, _ in world.outcomes(zorg).values()} == {"failed"}
    assert {c for _, c in world.outcomes(zorg).values()} == {"OinInCPAKomtNietOvereenMetOinInBericht"}
    resends = world.db.execute("SELECT count(*) AS n FROM batches WHERE kind = 'resend'").fetchone()["n"]
    assert resends >= 1
    world.db.commit()
    assert sim.admin.faults()["injected"]["technisch_probleem"] == 2
    assert assert_exactly_once(world, [woz, pasprt, zorg]) == 4
    for sid in (woz, pasprt, zorg):
        assert world.status(sid) == "closed"


def test_a_batch_that_arrives_too_late_fails_with_aanmaakdatum(world):
    """MijnOverheid's clock 20 days ahead: the batch's AanmaakDatum is more than 13 days in
    the past — a permanent failure for this batch, reported with the code."""
    numbers = bsns(2, seed=49)
    world.subscribe("voorbeeld", numbers)
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers))
    world.sim.admin.set_today(date.today() + timedelta(days=20))
    deliver(world)
    assert set(world.outcomes(sid).values()) == {("failed", "AanmaakDatumLigtTeVerInHetVerleden")}
    assert world.status(sid) == "closed" and assert_exactly_once(world, [sid]) == 0


def test_faults_on_every_call_still_reconcile_exactly_once(world, monkeypatch):
    """TechnischProbleem, HTTP 503, dropped connections (before and after processing)
    and duplicate results, all at once, on every call BBX makes."""
    monkeypatch.setenv("BBX_HOOK_BACKOFF", "0.01")
    numbers = bsns(1200, seed=47)
    subscribed = numbers[:900]
    world.subscribe("voorbeeld", subscribed)
    world.subscribe("pf_metaal", numbers[:300])
    a = world.submit("voorbeeld", "PASPRT", rows_for(numbers[:1000]))
    b = world.submit("pf_metaal", "UPO2026", rows_for(numbers[:300] + numbers[1000:]))
    world.sim.admin.set_faults(technisch_probleem_rate=0.2, http_503_rate=0.15, drop_rate=0.05,
                               drop_after_processing_rate=0.05, duplicate_result_rate=0.5, seed=7)
    deliver(world, send_tries=20, timeout=120)
    injected = world.sim.admin.faults()["injected"]
    assert all(injected[f] > 0 for f in ("technisch_probleem", "http_503", "drop", "duplicate_result")), injected
    counts_a, counts_b = world.counts(a), world.counts(b)
    assert counts_a["not_subscribed"] == 100 and counts_b["not_subscribed"] == 200
    assert counts_a["delivered"] + counts_a["failed"] == 900
    assert counts_b["delivered"] + counts_b["failed"] == 300
    # 20 % TechnischProbleem, 3 attempts: about 1 in 125 fails for good (never silently)
    assert counts_a["failed"] + counts_b["failed"] < 40
    failed_codes = world.db.execute(
        "SELECT DISTINCT outcome_code FROM messages WHERE outcome = 'failed'").fetchall()
    world.db.commit()
    assert {r["outcome_code"] for r in failed_codes} <= {"TechnischProbleem"}
    assert world.status(a) == world.status(b) == "closed"
    delivered = assert_exactly_once(world, [a, b])
    assert delivered == counts_a["delivered"] + counts_b["delivered"]
    stats = world.sim.admin.stats()
    assert stats["delivered"] == delivered


def test_result_files_leave_the_outbox_after_the_retention_period(world):
    from bbx.delivery import results

    numbers = bsns(3, seed=48)
    world.subscribe("voorbeeld", numbers[:2])
    old = world.submit("voorbeeld", "PASPRT", rows_for(numbers[:2]), external_ref="oud")
    new = world.submit("voorbeeld", "PASPRT", rows_for(numbers[2:]), external_ref="nieuw")
    deliver(world)
    outbox = world.outbox("voorbeeld")
    names = {p.name for p in outbox.iterdir()}
    assert {f"oud.s{old}.results.csv", f"nieuw.s{new}.undeliverable.csv"} <= names
    # the voorbeeld connection keeps personal data 90 days
    world.db.execute("UPDATE submissions SET results_written_at = now() - interval '91 days' WHERE id = %s", (old,))
    world.db.commit()
    assert results.purge_expired_result_files(url=world.url) == [old]
    names = {p.name for p in outbox.iterdir()}
    assert not any(n.startswith(f"oud.s{old}.") for n in names)
    assert {f"nieuw.s{new}.results.csv", f"nieuw.s{new}.undeliverable.csv"} <= names
    assert results.purge_expired_result_files(url=world.url) == []  # once
    audit = world.db.execute("SELECT details FROM audit_log WHERE action = 'submission.results_purged'").fetchone()
    world.db.commit()
    assert len(audit["details"]["files"]) == 2
