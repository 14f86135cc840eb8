"""The demo's population (issue 16): the voorbeeld municipality hands in the BSNs it
serves, so that its register export (``register_export: population`` in the sample
configuration) shows the intersection: subscribed AND in the population.

Called by ``bbx.demo`` before the first ``bbx_register_refresh`` (whose
``export_register`` task writes the export): it uploads each drop over SFTP as the tenant
and lets the scheduler run ``bbx_ingest__voorbeeld``.

The population is every second subscribed citizen of the simulator's register plus a
few who never signed up: the export then holds about half of the register, and its
JSON companion counts the subscribed BSNs in the population and outside it.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

CONNECTION = "voorbeeld"


def population_bsns(admin, oin: str, *, subscribed: int = 2000, never: int = 200) -> list[str]:
    """Every second subscribed BSN (of the first ``subscribed`` the simulator names) and
    ``never`` citizens who never signed up, sorted."""
    active = admin.sample(oin, status="active", limit=subscribed)
    outside = admin.sample(oin, status="never", limit=never)
    return sorted(set(active[::2]) | set(outside))


def population_drop(bsns: list[str], *, stamp: str | None = None) -> dict[str, bytes]:
    """A population drop (docs/drop-protocol.md §2.5): a BSN list and a READY marker."""
    stamp = stamp or datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = io.StringIO()
    out.write("bsn\r\n")
    for bsn in bsns:
        out.write(f"{bsn}\r\n")
    ready = f"kind: population\r\nmode: full\r\ndrop_id: inwoners-{stamp}\r\n"
    return {"inwoners.csv": out.getvalue().encode("utf-8"), "READY": ready.encode("ascii")}


def population_drops(admin, tenants) -> list[tuple[str, str, str, dict[str, bytes]]]:
    """(tenant, connection, drop folder, files) of the demo's population drop, with the
    simulator's admin client ``admin`` naming subscribed and never-subscribed citizens."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    drops = []
    for tenant in tenants:
        for c in tenant.connections:
            if c.code != CONNECTION:
                continue
            inbox = c.sftp_folder.removeprefix(f"/{tenant.code}") + f"/inbox/inwoners-{stamp}"
            drops.append((tenant.code, c.code, inbox, population_drop(population_bsns(admin, c.oin), stamp=stamp)))
    return drops
