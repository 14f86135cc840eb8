"""Helpers of the delivery tests (a module with a unique name, so test files can
import it: tests are collected without packages)."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bbx.delivery import plan
from bbx.domain import bsn as bsn_rules
from bbx.domain import globe
from bbx.store import batches as batch_store
from bbx.store import handins, submissions
from bbx.store import results as result_store
from simulator.testing import SimulatorHandle

MIJNOVERHEID = "urn:osb:oin:00000001800866472000"
REGISTER_START = date(2020, 1, 1)


@dataclass
class Connection:
    id: int
    code: str
    oin: str
    cpa_id: str
    sftp_folder: str
    types: dict[str, int]  # message type code -> id


@dataclass
class DeliveryWorld:
    """The sample configuration in the database and matching senders in the simulator."""

    db: object
    url: str
    sim: SimulatorHandle | None
    sftp_root: Path | None
    connections: dict[str, Connection]
    airflow_env: dict[str, str]

    # ------------------------------------------------------------------ register
    def subscribe(self, code: str, bsns: list[str], *, ours: bool = True, theirs: bool = True,
                  begin: date = REGISTER_START, end: date | None = None) -> None:
        """Make ``bsns`` subscribed in BBX's register and/or at the simulated MijnOverheid."""
        c = self.connections[code]
        if ours:
            refresh = _fresh_refresh(self.db, c.id)
            with self.db.cursor().copy(
                "COPY register_periods (connection_id, bsn, begin_date, end_date, opened_by_refresh,"
                " closed_by_refresh) FROM STDIN"
            ) as copy:
                for b in bsns:
                    copy.write_row((c.id, b, begin, end, refresh, refresh if end else None))
            self.db.commit()
        if theirs and self.sim is not None:
            self.sim.admin.subscribe(c.oin, bsns, begin, end)

    # ------------------------------------------------------------------ submissions
    def submit(self, code: str, type_code: str, rows: list[submissions.NewRow], *, channel: str = "sftp",
               external_ref: str | None = None, submitted_by: str = "test", sandbox: bool = False) -> int:
        c = self.connections[code]
        conn = self.db
        message_type = handins.message_type(conn, c.id, type_code)  # with its current standard-text version
        sub = submissions.open_submission(
            conn, connection_id=c.id, channel=channel, external_ref=external_ref or f"drop-{uuid.uuid4().hex[:8]}",
            submitted_by=submitted_by, message_type_id=message_type["id"], sandbox=sandbox,
        )
        submissions.add_rows(conn, sub.id, connection_code=code, connection_id=c.id,
                             message_type_id=message_type["id"], rows=rows,
                             standard_text_version_id=message_type["standard_text_version_id"])
        submissions.accept(conn, sub.id, rows_handed_in=len(rows), actor="test")
        if channel == "sftp":  # as intake records a drop (its name names the result files)
            conn.execute(
                """INSERT INTO sftp_drops (connection_id, name, submission_id, decision, state, finished_at)
                   VALUES (%s, %s, %s, 'validate', 'done', now())""",
                (c.id, external_ref or f"drop {sub.id}", sub.id),
            )
        conn.commit()
        return sub.id

    def counts(self, submission_id: int) -> dict[str, int]:
        counts = submissions.outcome_counts(self.db, submission_id)
        self.db.commit()
        return counts

    def status(self, submission_id: int) -> str:
        row = self.db.execute("SELECT status FROM submissions WHERE id = %s", (submission_id,)).fetchone()
        self.db.commit()
        return row["status"]

    def outcomes(self, submission_id: int) -> dict[str, tuple[str, str | None]]:
        """BSN -> (outcome, code) for every row with a BSN."""
        rows = self.db.execute(
            "SELECT bsn, outcome, outcome_code FROM messages WHERE submission_id = %s ORDER BY row_number",
            (submission_id,),
        ).fetchall()
        self.db.commit()
        return {r["bsn"]: (r["outcome"], r["outcome_code"]) for r in rows}

    def outbox(self, code: str) -> Path:
        return self.sftp_root / self.connections[code].sftp_folder.lstrip("/") / "outbox"


def _fresh_refresh(conn, connection_id: int) -> int:
    """An applied full refresh (now): the register counts as fresh for bulk sends."""
    row = conn.execute(
        "SELECT id FROM register_refreshes WHERE connection_id = %s AND status = 'applied' LIMIT 1",
        (connection_id,),
    ).fetchone()
    if row:
        return row["id"]
    return conn.execute(
        """INSERT INTO register_refreshes (connection_id, logical_date, kind, request_id, status,
                                           snapshot_at, entries, opened, closed, applied_at)
           VALUES (%s, current_date, 'full', %s, 'applied', now(), 0, 0, 0, now()) RETURNING id""",
        (connection_id, str(uuid.uuid4())),
    ).fetchone()["id"]


def airflow_connection(sim: SimulatorHandle, c: Connection) -> str:
    cert = sim.pki.clients.get(c.oin) or sim.issue_client_cert(c.oin)
    return json.dumps({
        "conn_type": "berichtenbox",
        "host": sim.base_url,
        "extra": {
            "cpa_id": c.cpa_id, "from_party_id": f"urn:osb:oin:{c.oin}", "to_party_id": MIJNOVERHEID,
            "from_role": "SR", "to_role": "SP", "client_cert": str(cert.cert), "client_key": str(cert.key),
            "ca_cert": str(sim.pki.ca), "timeout": 30, "retries": 4, "validatie_url": sim.validatie_url,
        },
    })


# ---------------------------------------------------------------------- helpers


def bsns(count: int, seed: int) -> list[str]:
    return list(bsn_rules.generate(count, seed=seed))


def rows_for(numbers: list[str], *, start: int = 1, **fields) -> list[submissions.NewRow]:
    return [submissions.NewRow(row_number=i, bsn=b, **fields) for i, b in enumerate(numbers, start)]


def pdf_bytes(text: str, pages: int = 1) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    for page in range(pages):
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.cell(0, 10, f"{text} ({page + 1})")
    return bytes(pdf.output())


def personal(position: int, content: bytes, name: str) -> submissions.PersonalAttachment:
    return submissions.PersonalAttachment(position, name, content, hashlib.sha256(content).hexdigest())


def deliver(world: DeliveryWorld, run_id: str = "run-1", *, timeout: float = 60.0, send_tries: int = 5,
            max_map_length: int = 1024) -> dict:
    """Plan, send every slice and collect results until the run's submissions are closed
    and reported — what bbx_deliver does, without Airflow (retries by hand)."""
    import time

    from bbx.delivery import plan, results, send
    from bbx.hooks.berichtenbox import BerichtenboxUnavailable

    planned = plan.plan_run(run_id, max_map_length=max_map_length, url=world.url)
    for s in planned["slices"]:
        for attempt in range(send_tries):
            try:
                send.send_batches(s["batch_ids"], url=world.url)
                break
            except BerichtenboxUnavailable:
                if attempt == send_tries - 1:
                    raise
    deadline = time.monotonic() + timeout
    while True:
        try:
            results.collect(submission_ids=planned["submissions"], url=world.url)
        except BerichtenboxUnavailable:
            pass  # like a task retry
        if not results.open_submissions(planned["submissions"], url=world.url):
            return planned
        if time.monotonic() > deadline:
            raise AssertionError(f"still open after {timeout}s: {results.open_submissions(planned['submissions'], url=world.url)}")
        time.sleep(0.1)


def read_csv(path: Path) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig")), delimiter=";"))


def assert_exactly_once(world: DeliveryWorld, submission_ids: list[int]) -> int:
    """Every message BBX counts as delivered is in its citizen's box exactly once, and
    nothing else of these submissions is in any box. Reads the simulator's own records
    (in-process, the same state its inspection API serves). Returns how many delivered."""
    rows = world.db.execute(
        "SELECT message_id::text AS m, bsn, outcome FROM messages WHERE submission_id = ANY(%s) AND message_id IS NOT NULL",
        (submission_ids,),
    ).fetchall()
    world.db.commit()
    store = world.sim.app.store
    with store.lock:
        in_boxes = {bsn: store.box_ids(bsn) for bsn in {r["bsn"] for r in rows}}
        placed = {bid: d.bsn for bid, d in store.delivered.items()}
    delivered = 0
    for r in rows:
        in_box = in_boxes[r["bsn"]].count(r["m"])
        if r["outcome"] == "delivered":
            delivered += 1
            assert in_box == 1, f"{r['m']}: delivered but {in_box} times in the box"
            assert placed[r["m"]] == r["bsn"]
        else:
            assert in_box == 0 and r["m"] not in placed, f"{r['m']}: {r['outcome']} but in a box"
    # spot-check the same through the inspection API
    for r in rows[:: max(len(rows) // 20, 1)]:
        seen = world.sim.admin.bericht(r["m"])
        assert (seen["in_box_count"] if seen else 0) == (1 if r["outcome"] == "delivered" else 0)
    return delivered


# ---- store-level delivery tests: a submission planned and sent without the simulator


DAY = date(2026, 3, 2)  # the delivery day of the store-level tests


def batch_result(batch_id: str, lines: list[tuple[str, str]]) -> globe.BatchResult:
    return globe.BatchResult(
        batch_id=batch_id, supplier_code="x", total_received=len(lines), succeeded=None, not_subscribed=None,
        technical_problem=None, message_type_incorrect=None, publication_date_incorrect=None,
        creation_date_incorrect=None, received_at=None, processed_at=None,
        messages=tuple(globe.MessageResult(m, "PASPRT", code, "NA") for m, code in lines),
    )


def message_ids(db, submission_id: int) -> dict[str, str]:
    """BSN -> BerichtID."""
    rows = db.execute("SELECT bsn, message_id::text AS m FROM messages WHERE submission_id = %s",
                      (submission_id,)).fetchall()
    return {r["bsn"]: r["m"] for r in rows}


def planned_submission(tenants, numbers, *, code="voorbeeld", type_code="PASPRT", channel="sftp", run="run-1"):
    sid = tenants.submit(code, type_code, rows_for(numbers), channel=channel)
    planned = plan.plan_run(run, max_map_length=1024, url=tenants.url, day=DAY)
    return sid, planned


def send_all(db, planned) -> list[str]:
    batch_ids = [b for s in planned["slices"] for b in s["batch_ids"]]
    for b in batch_ids:
        batch_store.mark_sent(db, b, ebms_message_id=f"ebms-{b}", size_bytes=100)
    db.commit()
    return batch_ids


def record_results(db, connection_id, batch_id, lines, *, ebms_id=None, max_attempts=3):
    summary = result_store.record_result(db, connection_id=connection_id, ebms_message_id=ebms_id or f"r-{batch_id}-{len(lines)}",
                                         payload_sha256="0" * 64, result=batch_result(batch_id, lines), max_attempts=max_attempts)
    db.commit()
    return summary


def sent_submission(tenants, count: int, seed: int):
    """A submission of ``count`` subscribed citizens of voorbeeld, planned and its batches
    marked sent: (connection, BSNs, submission id, batch ids)."""
    numbers = bsns(count, seed=seed)
    tenants.subscribe("voorbeeld", numbers)
    sid, planned = planned_submission(tenants, numbers)
    return tenants.connections["voorbeeld"], numbers, sid, send_all(tenants.db, planned)
