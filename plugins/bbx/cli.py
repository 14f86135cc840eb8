"""``bbx`` — the operator's command line.

    bbx db init                 create BBX's database if needed and apply migrations
    bbx config check FILE       check a tenant configuration, report every problem
    bbx config apply FILE       check it and load it into the database (idempotent)
    bbx config show             print what is configured
    bbx keys init               create the development content-encryption key file
    bbx keys add|status|rotate  a new key; what is under an older key; re-encrypt with the newest
    bbx env                     print the Airflow environment as shell exports
    bbx intake ...              check a drop folder on disk; run one intake cycle
    bbx delivery ...            delivery status of submissions
    bbx submissions ...         cancel a submission, follow its progress
    bbx callbacks failed|retry  status callbacks: the posts BBX gave up on; post one again now
    bbx register ...            the BSN register: status, lookups, reports, acknowledge staleness
    bbx api-key ...             API keys of the web service (stored hashed)
    bbx audit list|verify       the audit log: read it, check its hash chain
    bbx client-cert ...         client certificate subjects (mTLS) of the web service
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
    from bbx.progress import Progress
    from bbx.store import administration, db

    try:
        config = load(Path(args.file))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    from bbx.delivery.callbacks import configured_secret_problems

    if problems := configured_secret_problems(config):  # never a callback BBX cannot sign
        print(ConfigError(args.file, problems), file=sys.stderr)
        return 2
    connections = sum(len(t.connections) for t in config.tenants)
    with Progress("config apply", connections, unit="connections", quiet=args.quiet) as progress:
        with db.transaction() as conn:
            summary = administration.apply_config(conn, config, actor=f"cli:{getpass.getuser()}",
                                                  connection_done=progress.advance)
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


def _keys_add(args) -> int:
    from bbx import airflow_secrets, crypto

    try:
        source = crypto.key_source()
    except crypto.MissingKeyError:
        source = None  # add_key_to_file says what is missing
    if source in ("BBX_CONTENT_KEYS", f"Airflow Variable {airflow_secrets.CONTENT_KEYS_VARIABLE}"):
        print(f"{source} is set: add the new key in front of it there "
              "(generate one with: python -c 'from cryptography.fernet import Fernet; "
              "print(Fernet.generate_key().decode())')", file=sys.stderr)
        return 2
    count = crypto.add_key_to_file()
    print(f"new content key first in {crypto.key_source()} ({count} keys); restart BBX's workers, "
          "then run 'bbx keys rotate'")
    return 0


def _keys_status(args) -> int:
    from bbx import crypto
    from bbx.store import content_keys, db

    with db.connect() as conn:
        counts = content_keys.stale_counts(conn)
    print(f"{crypto.key_count()} content key(s) from {crypto.key_source()}")
    for name, c in counts.items():
        print(f"{name}: {c['stored']} stored, {c['older_key']} under an older key")
    stale = sum(c["older_key"] for c in counts.values())
    print("everything is under the newest key" if not stale else "run 'bbx keys rotate'")
    return 0 if not stale else 1


def _keys_rotate(args) -> int:
    from bbx import crypto
    from bbx.store import content_keys, db

    print(f"re-encrypting with the newest of {crypto.key_count()} key(s) from {crypto.key_source()}, "
          f"{args.batch_size} per batch", flush=True)

    def show(p) -> None:
        print(f"{p.column}: {p.checked}/{p.total} checked, {p.rotated} re-encrypted (batch {p.batches})", flush=True)

    try:
        with db.connect() as conn:
            results, complete = content_keys.rotate(conn, batch_size=args.batch_size,
                                                    max_batches=args.max_batches, on_batch=show)
    except content_keys.UnreadableContent as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 1
    for p in results:
        print(f"{p.column}: {p.checked} checked, {p.rotated} re-encrypted")
    if not complete:
        print(f"stopped after {args.max_batches} batch(es); run 'bbx keys rotate' again to continue")
        return 3
    print("done: every stored text and PDF is under the newest key ('bbx keys status' checks); "
          "older keys can be removed once no backup you keep needs them")
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
    "bbx.delivery.control_cli",  # bbx submissions cancel|progress
    "bbx.delivery.callbacks_cli",  # bbx callbacks failed|retry
    "bbx.register.cli",  # bbx register status|lookup|report|doubts|acknowledge|export
    "bbx.api.cli",  # bbx api-key create|list|revoke
    "bbx.audit_cli",  # bbx audit list|verify
    "bbx.standard_texts_cli",  # bbx standard-texts list|show|rollback
    "bbx.api.client_cert_cli",  # bbx client-cert add|list|remove
    "bbx.airflow_setup",  # bbx airflow setup
)


def build_parser() -> argparse.ArgumentParser:
    from bbx import progress as progress_cli

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
    progress_cli.add_argument(apply)
    apply.set_defaults(func=_config_apply)
    config.add_parser("show", help="print what is configured").set_defaults(func=_config_show)

    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(dest="action", required=True)
    keys.add_parser("init", help="create the development key file").set_defaults(func=_keys_init)
    keys.add_parser("add", help="put a new key first in the key file").set_defaults(func=_keys_add)
    keys.add_parser("status", help="how much stored content is under an older key (exit 1: some)"
                    ).set_defaults(func=_keys_status)
    rotate = keys.add_parser("rotate", help="re-encrypt stored texts and PDFs with the newest key "
                             "(in batches; safe to interrupt and run again)")
    rotate.add_argument("--batch-size", type=int, default=500, help="items per transaction (default 500)")
    rotate.add_argument("--max-batches", type=int, default=None,
                        help="stop after this many batches (exit 3; the next run continues)")
    rotate.set_defaults(func=_keys_rotate)

    sub.add_parser("env", help="print the Airflow environment as shell exports").set_defaults(func=_env)

    for module in AREA_COMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
