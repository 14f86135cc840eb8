"""What several benchmarks need: a fresh database beside BBX's, and many valid BSNs fast.

Imported by the bench scripts as ``from _common import ...`` (their folder is on sys.path
when run as ``python bench/NAME.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

from bbx import settings

SAMPLE_CONFIG = settings.PROJECT_ROOT / "config" / "sample" / "tenants.yaml"


def bench_database_url(name: str) -> str:
    """A database ``name`` on the server BBX is configured for (dropped and made anew)."""
    from bbx.store.db import sibling_url

    return sibling_url(settings.database_url(), name)


def fresh_database(url: str, *, sample_config: bool = True) -> None:
    """Drop and recreate ``url``, migrate it, and (by default) load the sample tenants."""
    from bbx.config.model import load
    from bbx.store import administration, db, migrations

    db.drop_database(url)
    db.ensure_database(url)
    migrations.migrate(url)
    if sample_config:
        with db.transaction(url) as conn:
            administration.apply_config(conn, load(SAMPLE_CONFIG), actor="bench")


def valid_bsns(count: int, start_prefix: int) -> Iterator[str]:
    """``count`` valid BSNs in increasing order from ``start_prefix`` (8-digit prefix; the
    check digit is computed, not searched, so a million take about a second)."""
    from simulator.population import check_digit

    prefix = start_prefix
    while count:
        digit = check_digit(prefix)
        if digit is not None:
            yield f"{prefix * 10 + digit:09d}"
            count -= 1
        prefix += 1


def compare_with_boxes(bbx_url: str, admin, submission_ids: list[int]) -> dict:
    """Every message's outcome in BBX against the simulator's boxes (admin API
    ``/admin/berichten``): wrong outcomes, lost (no final outcome), delivered twice (a
    BerichtID ``Verwerkt`` twice, or a citizen with two BerichtIDs). Used by bench_soak
    and bench_celery."""
    from bbx.store import db

    boxes: dict[str, list[str]] = {}
    offset = 0
    while True:
        page = admin.berichten(limit=20_000, offset=offset)
        boxes.update({bid: v["outcomes"] for bid, v in page.items()})
        if len(page) < 20_000:
            break
        offset += len(page)
    with db.connect(bbx_url) as conn:
        rows = conn.execute(
            """SELECT message_id::text AS m, bsn, outcome, outcome_code FROM messages
               WHERE submission_id = ANY(%s)""",
            (submission_ids,),
        ).fetchall()
        corrections = conn.execute(
            "SELECT count(*) AS n FROM outcome_corrections WHERE submission_id = ANY(%s)", (submission_ids,)
        ).fetchone()["n"]
        versions = conn.execute(
            "SELECT max(results_version) AS v, count(*) FILTER (WHERE results_version > 1) AS n FROM submissions "
            "WHERE id = ANY(%s)", (submission_ids,)).fetchone()
    wrong, lost, examples = 0, 0, []
    in_box_per_bsn: dict[str, int] = {}
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        codes = boxes.get(r["m"], [])
        in_box = "Verwerkt" in codes
        if in_box:
            in_box_per_bsn[r["bsn"]] = in_box_per_bsn.get(r["bsn"], 0) + 1
        if r["outcome"] in ("planned", "queued", "sent"):
            lost += 1
            continue
        if (r["outcome"] == "delivered") != in_box:
            wrong += 1
            if len(examples) < 5:
                examples.append(f"{r['m']}: BBX {r['outcome']} ({r['outcome_code']}), simulator {codes}")
    twice = sum(1 for codes in boxes.values() if codes.count("Verwerkt") > 1)
    twice += sum(1 for n in in_box_per_bsn.values() if n > 1)
    return {"messages": len(rows), "counts": counts, "wrong": wrong, "lost": lost, "twice": twice,
            "examples": examples, "corrections": corrections,
            "corrected_submissions": versions["n"], "max_version": versions["v"],
            "received_more_than_once": sum(1 for codes in boxes.values() if len(codes) > 1)}
