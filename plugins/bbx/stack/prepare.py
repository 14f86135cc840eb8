"""BBX's side before the platform starts: its database (created when missing), the
migrations, a development content key and a tenant configuration. ``python -m bbx.stack
start`` and ``make demo`` both begin with it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from bbx import crypto, settings
from bbx.config.model import ConfigError, load
from bbx.store import administration, db, migrations


def prepare(config_file: Path = settings.SAMPLE_CONFIG, *, say: Callable[[str], None]) -> str:
    """Database, migrations, key, configuration. Returns the BBX DB URL; a configuration
    that does not load stops with exit code 2 (wrong arguments or configuration)."""
    url = settings.database_url()
    say(f"BBX database: {url.split('?')[0]}")
    db.ensure_database(url)
    applied = migrations.migrate(url)
    say(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
    if crypto.create_key_file():
        say(f"created a development content key at {settings.encryption_key_file()}")
    try:
        config = load(config_file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    with db.transaction(url) as conn:
        summary = administration.apply_config(conn, config, actor="demo")
    say(f"configuration {config_file.name}: {summary.created} created, {summary.updated} updated, "
        f"{summary.unchanged} unchanged")
    return url
