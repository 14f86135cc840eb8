"""``make demo`` — the main job on the embedded defaults.

Sets up what it needs (BBX database: the local server or an embedded PostgreSQL;
migrations; a content key; the sample tenant configuration; Airflow's home and
metadata database) and prints what is configured.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from bbx import airflow_env, crypto, settings
from bbx.config.model import ConfigError, load
from bbx.store import administration, db, migrations

SAMPLE_CONFIG = settings.PROJECT_ROOT / "config" / "sample" / "tenants.yaml"


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def prepare(config_file=SAMPLE_CONFIG) -> str:
    """Database, migrations, key, configuration, Airflow home. Returns the BBX DB URL."""
    url = settings.database_url()
    step(f"BBX database: {url.split('?')[0]}")
    db.ensure_database(url)
    applied = migrations.migrate(url)
    step(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
    if crypto.create_key_file():
        step(f"created a development content key at {settings.encryption_key_file()}")
    try:
        config = load(config_file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    with db.transaction(url) as conn:
        summary = administration.apply_config(conn, config, actor="demo")
    step(f"configuration {config_file.name}: {summary.created} created, {summary.updated} updated, {summary.unchanged} unchanged")
    prepare_airflow(url)
    return url


def prepare_airflow(url: str) -> None:
    env = {**os.environ, **airflow_env.environment(url)}
    airflow_env.AIRFLOW_HOME.mkdir(exist_ok=True)
    db.ensure_database(airflow_env.metadata_url(url))
    step(f"Airflow home {airflow_env.AIRFLOW_HOME}: migrating the metadata database")
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)


def show_configuration(url: str) -> None:
    with db.connect(url) as conn:
        rows = administration.describe(conn)
    step(f"configured: {len({r['tenant'] for r in rows})} tenants, {len(rows)} connections")
    for row in rows:
        print(f"    {row['tenant']:<20} {row['connection']:<12} OIN {row['oin']}  {row['sftp_folder']:<32} types: {row['message_types']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--config", default=str(SAMPLE_CONFIG), help="tenant configuration file")
    parser.add_argument("--drop", help="a drop folder of your own to send (see docs/drop-protocol.md)")
    args = parser.parse_args(argv)
    from pathlib import Path

    url = prepare(Path(args.config))
    show_configuration(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
