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
