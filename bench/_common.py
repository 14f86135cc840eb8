"""What several benchmarks need: a fresh database beside BBX's, many valid BSNs fast, a
register seeded directly, and the one-line result ``bench/run_all.py`` collects.

Imported by the bench scripts as ``from _common import ...`` (their folder is on sys.path
when run as ``python bench/NAME.py``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from bbx import settings

SAMPLE_CONFIG = settings.PROJECT_ROOT / "config" / "sample" / "tenants.yaml"

# Prepended to every bench database name (``BBX_BENCH_DB_PREFIX=perf_``): two people
# benchmarking on one server do not drop each other's databases.
DB_PREFIX = os.environ.get("BBX_BENCH_DB_PREFIX", "")

ROW_MARK = "BENCHROW "


def bench_database_url(name: str, base: str | None = None) -> str:
    """A database ``name`` (with ``BBX_BENCH_DB_PREFIX``) on the server of ``base`` or the
    one BBX is configured for (dropped and made anew by the caller)."""
    from bbx.store.db import sibling_url

    return sibling_url(base or settings.database_url(), DB_PREFIX + name)


def bench_workspace(folder_prefix: str, database: str) -> tuple[Path, str]:
    """A fresh work folder with a new content key, and the URL of bench database
    ``database``, which BBX (this process and its children) is pointed at."""
    from bbx import crypto

    work = Path(tempfile.mkdtemp(prefix=folder_prefix))
    os.environ["BBX_KEY_FILE"] = str(work / "content.key")
    crypto.create_key_file()
    url = bench_database_url(database)
    os.environ["BBX_DATABASE_URL"] = url
    settings.database_url.cache_clear()
    return work, url


def emit_row(enabled: bool, **row) -> None:
    """With ``--json``: one machine-readable line for ``bench/run_all.py``'s table (stage,
    bbx, baseline, ratio, rss_mb, target, met)."""
    if enabled:
        print(ROW_MARK + json.dumps(row, default=str), flush=True)


def seed_register(url: str, connection_code: str, subscribed: list[str], begin: date = date(2020, 1, 1)) -> None:
    """``subscribed`` in the register of the connection as of ``begin`` (an applied full
    refresh of today, COPYed directly: set-up, not the register's own path)."""
    from bbx.store import administration, db

    with db.transaction(url) as conn:
        connection = administration.connection_by_code(conn, connection_code)
        refresh = conn.execute(
            """INSERT INTO register_refreshes (connection_id, logical_date, kind, request_id, status,
                                               snapshot_at, entries, opened, closed, applied_at)
               VALUES (%s, current_date, 'full', gen_random_uuid(), 'applied', now(), %s, %s, 0, now())
               RETURNING id""",
            (connection["id"], len(subscribed), len(subscribed)),
        ).fetchone()["id"]
        with conn.cursor().copy(
            "COPY register_periods (connection_id, bsn, begin_date, opened_by_refresh) FROM STDIN"
        ) as copy:
            for b in subscribed:
                copy.write_row((connection["id"], b, begin, refresh))


def lift_four_eyes(url: str, connection_code: str) -> None:
    """No approval threshold on ``connection_code``: a bench's large submission would
    otherwise wait in bbx_review for a second person (the sample configuration's
    ``approval_threshold: 10000``), and the timed part would never end."""
    from bbx.store import administration, db

    with db.transaction(url) as conn:
        connection = administration.connection_by_code(conn, connection_code)
        conn.execute("UPDATE connections SET approval_threshold = NULL WHERE id = %s", (connection["id"],))


def standard_text_only(url: str, connection_code: str, message_type: str) -> None:
    """``message_type`` of ``connection_code`` without its standard attachments (the
    sample PASPRT carries two PDFs, ~48 KB a message: 48 MB a 1,000-message batch), as
    ``bench_send`` measures the sending target on standard text."""
    from bbx.store import administration, db

    with db.transaction(url) as conn:
        connection = administration.connection_by_code(conn, connection_code)
        conn.execute(
            """DELETE FROM message_type_attachments WHERE message_type_id IN
                 (SELECT id FROM message_types WHERE connection_id = %s AND code = %s)""",
            (connection["id"], message_type))


def prepare_databases(bbx_url: str, af_url: str, rows: int, share: float,
                      connection_code: str = "voorbeeld") -> tuple[list[str], list[str]]:
    """Fresh BBX (sample tenants) and Airflow databases; ``rows`` citizens, the first
    ``share`` of them in the register of ``connection_code``. Used by bench_delivery_e2e,
    bench_send_to_closed and bench_soak (the four-eyes threshold stays: ``lift_four_eyes``
    lifts it, bench_soak cuts its hand-in below it)."""
    from bbx.domain import bsn as bsn_rules
    from bbx.store import db

    db.drop_database(af_url)
    db.ensure_database(af_url)
    fresh_database(bbx_url)
    numbers = list(bsn_rules.generate(rows, seed=5))
    subscribed = numbers[: int(rows * share)]
    seed_register(bbx_url, connection_code, subscribed)
    return numbers, subscribed


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
