"""Helpers of the register tests (imported by name: tests/ has no packages).

The truth is the simulator's deterministic population (``simulator.population``) and
its answer writer (``simulator.register``): the store tests apply the very answers the
simulator would send, without the network.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, time

from bbx.domain import register as rules
from bbx.store import register as store
from bbx.store import register_refresh as refresh_store
from simulator import register as sim_register
from simulator.clock import TZ
from simulator.config import PopulationSpec
from simulator.population import NO_END, Population

OIN_A = "00000001001234567000"
OIN_B = "00000001002345678000"
EPOCH = date(2026, 1, 1)


def make_connection(db, code: str, oin: str, *, export: bool = False, stale_hours: int = 36) -> dict:
    tenant = db.execute(
        "INSERT INTO tenants (code, name) VALUES ('gemeente-t', 'Gemeente T')"
        " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id"
    ).fetchone()["id"]
    row = db.execute(
        """INSERT INTO connections (tenant_id, code, name, oin, sender_code, cpa_id, sftp_folder,
                                    register_export, register_stale_after_hours)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *""",
        (tenant, code, f"Koppeling {code}", oin, oin, f"cpa-{oin}", f"/gemeente-t/{code}", export, stale_hours),
    ).fetchone()
    db.commit()
    return row


def population(size: int = 3000, seed: int = 7) -> Population:
    """Small and lively: half of it cycles every 20-60 days, so every day has dozens of
    sign-ups and sign-offs, and some BSNs sign off and on again within a few days."""
    return Population(PopulationSpec(seed=seed, size=size, epoch=EPOCH, stable_share=0.5,
                                     min_cycle_days=20, max_cycle_days=60))


def moment(day: date, hour: int = 6) -> datetime:
    return datetime.combine(day, time(hour, 0), TZ)


@dataclass
class Driver:
    """Runs the refresh of a day through the store, with the simulator's own answer:
    plan (as the shell does) → answer at ``answered_on`` → store → apply."""

    db: object
    connection: dict
    population: Population

    def ask(self, day: date, *, force_full: bool = False) -> dict:
        cid = self.connection["id"]
        with self.db.transaction():
            existing = refresh_store.refresh_for(self.db, cid, day)
            attempt = existing["attempt"] + 1 if existing else 1
            plan = rules.plan_request(self.connection["code"], day, refresh_store.latest_snapshot(self.db, cid),
                                      force_full=force_full, attempt=attempt)
            refresh = refresh_store.start_refresh(self.db, cid, day, plan, attempt=attempt)
            refresh_store.mark_sent(self.db, refresh["id"], f"req-{refresh['request_id']}@bbx")
        return refresh

    def answer(self, refresh: dict, answered_on: date, content: bytes | None = None) -> str:
        if content is None:
            content = self.answer_content(refresh, answered_on)
        with self.db.transaction():
            return refresh_store.store_answer(self.db, connection_id=self.connection["id"],
                                              request_id=str(refresh["request_id"]),
                                              ebms_message_id=f"ans-{refresh['request_id']}", content=content)

    def answer_content(self, refresh: dict, answered_on: date) -> bytes:
        kind = sim_register.FULL if refresh["kind"] == rules.FULL else sim_register.CHANGES
        request = sim_register.RegisterRequest(self.connection["oin"], str(refresh["request_id"]), kind,
                                               since=refresh["since"])
        content, _ = sim_register.build_answer(request, self.population, moment(answered_on))
        return content

    def apply(self, refresh: dict) -> refresh_store.ApplyResult:
        return refresh_store.apply_answer(self.db, refresh["id"])

    def refresh(self, day: date, *, answered_on: date | None = None, force_full: bool = False) -> refresh_store.ApplyResult:
        refresh = self.ask(day, force_full=force_full)
        self.answer(refresh, answered_on or day)
        return self.apply(refresh)

    # ---- comparisons with the truth
    def active(self, day: date) -> set[str]:
        return set(store.subscribed_on(self.db, self.connection["id"], day, with_bsns=True)["bsns"])

    def truth(self, day: date) -> set[str]:
        return {bsn for bsn, _, _ in self.population.active_on(day)}

    def periods(self) -> set[tuple[str, date, date | None]]:
        return {
            (r["bsn"], r["begin_date"], r["end_date"])
            for r in self.db.execute(
                "SELECT bsn, begin_date, end_date FROM register_periods WHERE connection_id = %s",
                (self.connection["id"],),
            )
        }

    def expected_periods(self, built_on: date, day: date) -> set[tuple[str, date, date | None]]:
        """The history a register refreshed every day from ``built_on`` to ``day`` must
        hold: every subscription period that was active on one of those days, with its
        real dates (the end only once it has happened, i.e. when it is <= ``day``)."""
        pop = self.population
        b, d = built_on.toordinal(), day.toordinal()
        out = set()
        for bsn, _, _ in pop.states(day):
            starts = []
            for ordinal in range(b, d + 1):
                state = pop.state(bsn, ordinal)
                if state is not None and state[1] == NO_END and state[0] not in starts:
                    starts.append(state[0])
            for start in starts:
                end = None
                for ordinal in range(max(start, b), d + 1):
                    state = pop.state(bsn, ordinal)
                    if state is None or state[1] != NO_END or state[0] != start:
                        end = date.fromordinal(ordinal)
                        break
                out.add((bsn, date.fromordinal(start), end))
        return out

    def transitions(self, bsn: str, after: date, until: date) -> int:
        """How often ``bsn`` signed up or off on a day in ``(after, until]``."""
        pop = self.population
        return sum(
            pop.is_active(bsn, o) != pop.is_active(bsn, o - 1)
            for o in range(after.toordinal() + 1, until.toordinal() + 1)
        )


def answer_gzip(request_id: str, peildatum: datetime, entries) -> bytes:
    """A gzip AbonnementAntwoord as the simulator writes it; ``entries`` are
    ``(bsn, begin date, end date or None)``."""
    out = io.BytesIO()
    sim_register.write_answer(out, request_id, peildatum, (
        (bsn, begin.toordinal(), end.toordinal() if end else NO_END) for bsn, begin, end in entries
    ))
    return out.getvalue()


def berichtenbox_connection(handle, oin: str) -> dict:
    """The Airflow Connection (JSON form) of the hook for ``oin``, at the simulator."""
    cert = handle.cert(oin)
    return {
        "conn_type": "berichtenbox",
        "host": handle.base_url,
        "extra": {
            "cpa_id": f"cpa-{oin}", "from_party_id": f"urn:osb:oin:{oin}",
            "to_party_id": handle.config.mijnoverheid_party_id,
            "client_cert": str(cert.cert), "client_key": str(cert.key), "ca_cert": str(handle.pki.ca),
            "validatie_url": handle.validatie_url, "timeout": 30, "retries": 1,
        },
    }
