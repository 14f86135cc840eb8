"""``bbx intake`` — SFTP intake from the command line (operators, the demo, tenants' IT).

    bbx intake check FOLDER [--config FILE --connection CODE]
        check a drop folder on this machine against the drop protocol (marker, files,
        every row) without a database or SFTP; with the tenant configuration the message
        type's rules (standard text, attachments) are checked too. Exit code 1 when the
        drop would be rejected as a whole, 0 otherwise (rows may still be rejected).
    bbx intake run [CONNECTION ...]
        one intake cycle (what one bbx_ingest__<connection> DAG run does) for the given
        or all active connections, through the Airflow connection bbx_sftp.
"""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub) -> None:
    from bbx import progress

    intake = sub.add_parser("intake", help="SFTP intake (drops)").add_subparsers(dest="action", required=True)
    check = intake.add_parser("check", help="check a local drop folder against the drop protocol")
    check.add_argument("folder")
    check.add_argument("--config", help="tenant configuration file (to check the message type's rules)")
    check.add_argument("--connection", help="connection code in that configuration")
    check.add_argument("--max-rows", type=int, default=50, help="rejected rows to show (default 50)")
    progress.add_argument(check)
    check.set_defaults(func=check_folder)
    run = intake.add_parser("run", help="one intake cycle for connections (no Airflow scheduler needed)")
    run.add_argument("connections", nargs="*", help="connection codes (default: all active)")
    progress.add_argument(run)
    run.set_defaults(func=run_cycle)


def _message_type(args, code: str):
    """(MessageTypeInfo, StandardSet) from the configuration file, or (None, None)."""
    from bbx.config.model import ConfigError, load
    from bbx.domain import attachments
    from bbx.domain import rows as row_rules
    from bbx.domain.drop_check import MessageTypeInfo

    if not (args.config and args.connection):
        return None, None, "message type rules not checked (give --config and --connection)"
    try:
        config = load(Path(args.config))
    except ConfigError as exc:
        return None, None, str(exc)
    for tenant in config.tenants:
        for connection in tenant.connections:
            if connection.code != args.connection:
                continue
            library = {a.code: a for a in connection.standard_attachments}
            for mt in connection.message_types:
                if mt.code == code and mt.active:
                    standard = attachments.prepare_standard_set(
                        [attachments.SourcePdf(library[c].description, library[c].content) for c in mt.standard_attachments])
                    return (MessageTypeInfo(mt.code, mt.subject, mt.standard_text is not None, mt.standard_text),
                            standard, None)
            known = [row_rules.KnownType(m.code, m.active) for m in connection.message_types]
            found = next((k for k in known if k.code == code), None)
            return None, None, row_rules.message_type_problem(code, args.connection, found, known).message
    return None, None, f"connection {args.connection!r} is not in {args.config}"


def check_folder(args) -> int:
    from bbx.domain.drop import (
        DropProblem,
        ListedFile,
        ManifestError,
        classify,
        marker_of,
        parse_marker,
    )
    from bbx.domain.drop_check import DropCheck
    from bbx.i18n import local_time
    from bbx.intake import settings
    from bbx.progress import Progress

    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"{folder}: not a folder (a drop is a folder)", file=sys.stderr)
        return 2
    entries = []
    for path in sorted(folder.iterdir()):
        kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file" if path.is_file() else "other"
        entries.append(ListedFile(path.name, path.lstat().st_size, kind))
    marker = marker_of(e.name for e in entries if e.kind == "file")
    if marker is None:
        print(f"{folder}: no marker (manifest.json or READY): BBX would wait for it")
        return 1
    try:
        manifest = parse_marker(marker, (folder / marker).read_bytes())
    except ManifestError as exc:
        print(f"REJECTED as a whole: {exc}")
        return 1
    limits = settings.limits()
    files = [classify(e, limits) for e in entries]
    check = DropCheck(manifest, files, lambda name: open(folder / name, "rb"), limits).scan()
    info, standard, note = _message_type(args, manifest.message_type)
    problems = list(check.problems)
    if note and args.config:
        problems.insert(0, DropProblem(marker, note))
    print(f"drop {folder.name}: message type {manifest.message_type}, {check.rows_total:,} row(s), "
          f"{len(check.pdfs)} BSN(s) with personal PDFs")
    if manifest.schedule.send_at or manifest.schedule.publication_date:
        print(f"scheduled: not sent before {local_time(manifest.schedule.send_at) or 'now'}, "
              f"publication date {manifest.schedule.publication_date or 'at once'}")
    if note and not args.config:
        print(f"note: {note}")
    rejected, shown = 0, []  # the rows shown are printed after the progress line is done
    with Progress(f"checking {folder.name}", check.rows_total, quiet=args.quiet) as progress:
        for result in progress.track(check.check_rows(info, standard, {})):
            if not result.accepted:
                rejected += 1
                if rejected <= args.max_rows:
                    shown.append(f"  {result.source} row {result.row.number}: {result.reason}")
    for line in shown:
        print(line)
    if rejected > args.max_rows:
        print(f"  ... and {rejected - args.max_rows:,} more rejected row(s)")
    for line in check.notes():
        print(f"note: {line}")
    if problems:
        print(f"REJECTED as a whole ({len(problems)} problem(s)):")
        for problem in problems:
            print(f"  - {problem.text()}")
        return 1
    print(f"OK: {check.rows_total - rejected:,} row(s) would be accepted, {rejected:,} rejected "
          "(BSNs handed in earlier are checked by BBX itself)")
    return 0


def run_cycle(args) -> int:
    from bbx.intake import steps
    from bbx.progress import Progress
    from bbx.store import administration, db

    codes = args.connections
    if not codes:
        with db.connect() as conn:
            codes = [c["code"] for c in administration.active_connections(conn)]
    drops = [(code, found) for code in codes for found in steps.find_drops(code)]
    # progress in steps (receive, validate, acknowledge per drop) on stderr; stdout as before
    with Progress("intake run", len(drops) * 3, unit="steps", quiet=args.quiet) as progress:
        for code, found in drops:
            received = steps.receive_drop(found)
            progress.advance()
            validated = steps.validate_drop(received)
            progress.advance()
            result = steps.acknowledge_drop(validated)
            progress.advance()
            progress.clear()
            if result.get("skip"):
                print(f"{code}: {found['name']}: skipped ({result['skip']})", flush=True)
                continue
            print(f"{code}: {found['name']} → submission {result['submission_id']}: {result['status']}, "
                  f"{result.get('accepted_rows', 0):,} accepted, {result.get('rejected_rows', 0):,} rejected",
                  flush=True)
    return 0
