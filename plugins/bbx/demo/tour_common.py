"""What the parts of ``make tour`` share (``bbx.demo.tour`` runs them): the tour's
connection, the ``Tour`` (its stack, API key, results and the citizens it took), the
counts rule and a send through the web service."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from bbx.demo.drops import fresh_bsns
from bbx.domain import outcomes
from bbx.stack import Stack
from bbx.store import administration, db, register
from bbx.store import demo as demo_store

TENANT, CONNECTION, OIN, TYPE = "pensioenuitvoerder", "pf_metaal", "00000003123456780000", "PENSBRF"
FINAL = ("closed", "rejected")


@dataclass
class Tour:
    stack: Stack
    key: str
    results: list[tuple[str, bool, str]] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)  # citizens a part of this tour already uses

    def citizens(self, connection: str, oin: str, status: str, count: int) -> list[str]:
        """Fresh citizens (never handed in, not taken by another part of the tour) whose
        subscription the simulator and BBX's register agree on today: a sign-up or sign-off of
        today reaches the register only with tomorrow's refresh, so the simulator's "active"
        alone can be "not subscribed" in BBX."""
        from bbx.api import service

        admin = self.stack.admin()
        try:
            with db.connect(self.stack.bbx_url) as conn:
                used = demo_store.used_bsns(conn) | self.taken
                connection_id = administration.connection_by_code(conn, connection)["id"]
                today = service.today()
                found = [b for b in fresh_bsns(admin, oin, status, count + 20, used)
                         if register.is_subscribed(conn, connection_id, b, today) == (status == "active")][:count]
        finally:
            admin.close()
        if len(found) < count:
            raise RuntimeError(f"only {len(found)} fresh {status} citizens of {connection} left; run make demo again")
        self.taken.update(found)
        return found

    def check(self, name: str, ok: bool, observed: str) -> bool:
        self.results.append((name, ok, observed))
        print(f"{'PASS' if ok else 'FAIL'}  {name:<34} {observed}", flush=True)
        return ok

    def http(self):
        import httpx

        return httpx.Client(base_url=f"{self.stack.api_url}/bbx/api/v1", timeout=120,
                            headers={"Authorization": f"Bearer {self.key}"})

    def status(self, client, sid: int) -> dict:
        return client.get(f"/submissions/{sid}").raise_for_status().json()

    def wait_closed(self, client, sid: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        status = self.status(client, sid)
        while status["status"] not in FINAL and time.monotonic() < deadline:
            time.sleep(2)
            status = self.status(client, sid)
        return status


def counts_rule(counts: Mapping[str, int], rows_handed_in: int | None) -> bool:
    """The outcome rule (``bbx.domain.outcomes.reconcile``: the five final outcomes add up to
    the rows handed in, nothing open) on the counts a tenant is shown."""
    return rows_handed_in is not None and outcomes.reconcile(rows_handed_in, counts).complete


def send(client, body: dict, pdfs: dict[str, bytes] | None = None) -> dict:
    files = [("attachments", (name, content, "application/pdf")) for name, content in (pdfs or {}).items()]
    response = client.post(f"/connections/{CONNECTION}/messages", headers={"Idempotency-Key": uuid.uuid4().hex},
                           data={"request": json.dumps(body)}, files=files or [("request", (None, json.dumps(body)))])
    return response.raise_for_status().json()
