"""``bbx`` — the operator's command line.

    bbx db init                 create BBX's database if needed and apply migrations
    bbx config check FILE       check a tenant configuration, report every problem
    bbx config apply FILE       check it and load it into the database (idempotent)
    bbx config show             print what is configured
    bbx keys init               create the development content-encryption key file
    bbx env                     print the Airflow environment as shell exports
    bbx intake ...              check a drop folder on disk; run one intake cycle
    bbx delivery ...            delivery status of submissions
    bbx register ...            the BSN register: status, lookups, reports, acknowledge staleness
    bbx api-key ...             API keys of the web service (stored hashed)
    bbx airflow setup           register BBX's Airflow Connections and pool (idempotent)

Every subcommand has --help.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import shlex
import sys
from pathlib import Path


def _db_init(args) -> int:
    from bbx import settings
    from bbx.store import db, migrations

    url = settings.database_url()
    created = db.ensure_database(url)
    applied = migrations.migrate(url)
    print(f"database: {'created' if created else 'exists'}; migrations applied: {', '.join(applied) or 'none (up to date)'}")
    return 0


def _config_check(args) -> int:
    from bbx.config.model import ConfigError, load

    try:
        config = load(Path(args.file))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    connections = sum(len(t.connections) for t in config.tenants)
    print(f"{args.file}: OK ({len(config.tenants)} tenants, {connections} connections)")
    return 0


def _config_apply(args) -> int:
    from bbx.config.model import ConfigError, load
    from bbx.store import administration, db

    try:
        config = load(Path(args.file))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    with db.transaction() as conn:
        summary = administration.apply_config(conn, config, actor=f"cli:{getpass.getuser()}")
    print(
        f"applied {args.file}: {summary.created} created, {summary.updated} updated, "
        f"{summary.unchanged} unchanged, {summary.deactivated} deactivated"
    )
    return 0


def _config_show(args) -> int:
    from bbx.store import administration, db

    with db.connect() as conn:
        rows = administration.describe(conn)
    if not rows:
        print("no tenants configured (bbx config apply FILE)")
        return 0
    for row in rows:
        state = "" if row["active"] else "  [inactive]"
        print(
            f"{row['tenant']:<20} {row['connection']:<22} OIN {row['oin']}  sftp {row['sftp_folder']:<32}"
            f" types: {row['message_types'] or '-'}  attachments: {row['attachments']}{state}"
        )
    return 0


def _keys_init(args) -> int:
    from bbx import crypto, settings

    created = crypto.create_key_file()
    print(f"content key {'created' if created else 'exists'}: {settings.encryption_key_file()}")
    return 0


def _env(args) -> int:
    from bbx.airflow_env import environment

    for key, value in environment().items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


# Each area adds its own subcommands with an ``add_parser(subparsers)`` function.
AREA_COMMANDS = (
    "bbx.intake.cli",  # bbx intake check|run
    "bbx.delivery.cli",  # bbx delivery status
    "bbx.register.cli",  # bbx register status|lookup|report|doubts|acknowledge|export
    "bbx.api.cli",  # bbx api-key create|list|revoke
    "bbx.airflow_setup",  # bbx airflow setup
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bbx", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    db_parser = sub.add_parser("db", help="BBX's database").add_subparsers(dest="action", required=True)
    db_parser.add_parser("init", help="create the database if needed and migrate").set_defaults(func=_db_init)

    config = sub.add_parser("config", help="tenant configuration").add_subparsers(dest="action", required=True)
    check = config.add_parser("check", help="check a configuration file")
    check.add_argument("file")
    check.set_defaults(func=_config_check)
    apply = config.add_parser("apply", help="check and load a configuration file")
    apply.add_argument("file")
    apply.set_defaults(func=_config_apply)
    config.add_parser("show", help="print what is configured").set_defaults(func=_config_show)

    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(dest="action", required=True)
    keys.add_parser("init", help="create the development key file").set_defaults(func=_keys_init)

    sub.add_parser("env", help="print the Airflow environment as shell exports").set_defaults(func=_env)

    for module in AREA_COMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
