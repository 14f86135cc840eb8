"""``bbx register ...`` — the register for operators.

    bbx register status [CODE ...]                 freshness, last refresh, doubts, last export
    bbx register acknowledge CODE --reason TEXT    let bulk sends go on a stale register
    bbx register lookup CODE BSN [--live] [--message-type T]
                                                   periods of a BSN (and MijnOverheid's answer now)
    bbx register report CODE --on DAY [--bsns]     subscribed on a day
    bbx register report CODE --from DAY --to DAY [--bsns]
                                                   sign-ups and sign-offs in a period (inclusive)
        [--population]                             ... split: in the connection's population and outside it
    bbx register population CODE [--hand-in FILE [--mode full|additions|removals]]
                                                   the population's hand-ins (or hand one in)
    bbx register doubts CODE [--resolve ID --note TEXT]
    bbx register export CODE [--day DAY] [--force] write the day's export to the SFTP outbox
"""

from __future__ import annotations

import getpass
import sys
from datetime import date


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        import argparse

        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _today() -> date:
    from datetime import datetime

    from bbx.domain.register import TZ

    return datetime.now(TZ).date()


def _connection_id(conn, code: str) -> int:
    from bbx.store.administration import connection_by_code

    connection = connection_by_code(conn, code)
    if connection is None:
        raise SystemExit(f"unknown connection {code!r} (see `bbx config show`)")
    return connection["id"]


def _status(args) -> int:
    from bbx.store import administration, db
    from bbx.store import register as store

    with db.connect() as conn:
        codes = args.connections or [c["code"] for c in administration.active_connections(conn)]
        if not codes:
            print("no active connections (bbx config apply FILE)")
            return 0
        blocked_any = False
        for code in codes:
            s = store.status(conn, _connection_id(conn, code))
            last = s["latest_refresh"]
            refresh = (f"{last['logical_date']} {last['kind']} {last['status']}"
                       + (f" ({last['error'] or last['note']})" if last and (last["error"] or last["note"]) else "")
                       if last else "never refreshed")
            print(f"{code}: {s['subscribed_today']:,} subscribed today; last refresh {refresh}")
            if s["stale"]:
                state = f"acknowledged by {s['acknowledged_by']}" if s["acknowledged_by"] else "BULK SENDS STOPPED"
                print(f"  STALE ({state}): {s['stale']}")
            blocked_any |= bool(s["bulk_send_blocked"])
            if s["open_doubts"]:
                print(f"  {s['open_doubts']} open doubt(s): bbx register doubts {code}")
            if s["last_export"]:
                e = s["last_export"]
                print(f"  last export {e['register_date']}: {e['path']} ({e['rows']:,} rows)")
    return 1 if blocked_any else 0


def _acknowledge(args) -> int:
    from bbx.store import db
    from bbx.store import register as store

    with db.transaction() as conn:
        try:
            row = store.acknowledge_stale(conn, _connection_id(conn, args.connection),
                                          by=f"cli:{getpass.getuser()}", reason=args.reason)
        except ValueError as exc:
            print(f"{args.connection}: {exc}", file=sys.stderr)
            return 2
    print(f"{args.connection}: stale register acknowledged by {row['acknowledged_by']}; bulk sends may go "
          "until the next successful refresh")
    return 0


def _lookup(args) -> int:
    from bbx.domain import bsn as bsn_rules
    from bbx.store import audit, db
    from bbx.store import register as store

    checked = bsn_rules.check(args.bsn)
    if checked.error:
        print(f"{args.bsn}: {checked.error}", file=sys.stderr)
        return 2
    today = _today()
    with db.connect() as conn:
        cid = _connection_id(conn, args.connection)
        periods = store.periods(conn, cid, checked.bsn)
        now = store.is_subscribed(conn, cid, checked.bsn, today)
        with db.unit(conn):  # a lookup of a BSN is in the audit log, whoever asks (masked)
            audit.record(conn, actor=f"cli:{getpass.getuser()}", action="bsn.lookup", connection_id=cid,
                         details={"bsn": bsn_rules.mask(checked.bsn), "channel": "cli", "live": bool(args.live)})
    print(f"{bsn_rules.mask(checked.bsn)} at {args.connection}: {'subscribed' if now else 'not subscribed'} "
          f"today ({today}) according to the register")
    for p in periods:
        until = f"until {p['end_date']} (first day without)" if p["end_date"] else "still subscribed"
        print(f"  from {p['begin_date']} {until}   [refresh {p['opened_by_refresh']}"
              + (f" / {p['closed_by_refresh']}]" if p["closed_by_refresh"] else "]"))
    if not periods:
        print("  no subscription periods in the register")
    if args.live:
        from bbx.register import live_check

        live = live_check(args.connection, [checked.bsn], args.message_type)[checked.bsn]
        print(f"  MijnOverheid now (ValidateAbonnementen): {'subscribed' if live else 'NOT subscribed'}"
              + ("" if live == now else "   <-- differs from the register"))
    return 0


def _report(args) -> int:
    from bbx.store import db
    from bbx.store import register as store

    if args.population:
        return _population_report(args)
    with db.connect() as conn:
        cid = _connection_id(conn, args.connection)
        if args.on:
            result = store.subscribed_on(conn, cid, args.on, with_bsns=args.bsns)
            print(f"{args.connection}: {result['count']:,} subscribed on {args.on}")
            for bsn in result.get("bsns", []):
                print(bsn)
            return 0
        if not (args.start and args.end):
            print("give --on DAY, or --from DAY and --to DAY", file=sys.stderr)
            return 2
        result = store.changes(conn, cid, args.start, args.end, with_bsns=args.bsns)
    print(f"{args.connection}: {result['signups']:,} sign-ups and {result['signoffs']:,} sign-offs "
          f"from {args.start} to {args.end} (inclusive)")
    for key, label in (("signup_bsns", "sign-up"), ("signoff_bsns", "sign-off")):
        for bsn in result.get(key, []):
            print(f"{label},{bsn}")
    return 0


def _population_report(args) -> int:
    from bbx.store import db, population

    with db.connect() as conn:
        cid = _connection_id(conn, args.connection)
        current = population.current(conn, cid)
        if current is None:
            print(f"{args.connection} has no population yet (bbx register population {args.connection} "
                  "--hand-in FILE, an SFTP drop of kind population, or the web service)", file=sys.stderr)
            return 1
        head = f"{args.connection} (population version {current['version']}, {current['members']:,} BSNs)"
        if args.on:
            counts = population.export_counts(conn, cid, args.on)
            print(f"{head}: subscribed on {args.on}: {counts['subscribed_in_population']:,} in the population, "
                  f"{counts['subscribed_outside_population']:,} outside it")
            return 0
        if not (args.start and args.end):
            print("give --on DAY, or --from DAY and --to DAY", file=sys.stderr)
            return 2
        split = population.changes_split(conn, cid, args.start, args.end, with_bsns=args.bsns)
    print(f"{head}, from {args.start} to {args.end} (inclusive):")
    for key, label in (("in_population", "in the population"), ("outside_population", "outside it")):
        print(f"  {label}: {split[key]['signups']:,} sign-ups and {split[key]['signoffs']:,} sign-offs")
    for key, where in (("in_population", "in"), ("outside_population", "outside")):
        for field, label in (("signup_bsns", "sign-up"), ("signoff_bsns", "sign-off")):
            for bsn in split[key].get(field, []):
                print(f"{label},{where},{bsn}")
    return 0


def _population(args) -> int:
    import uuid
    from pathlib import Path

    from bbx.progress import Progress
    from bbx.store import administration, db, population

    with db.connect() as conn:
        connection = administration.connection_by_code(conn, args.connection)
        if connection is None:
            print(f"unknown connection {args.connection!r} (bbx config show)", file=sys.stderr)
            return 2
    if args.hand_in:
        from bbx.intake import population as intake

        path = Path(args.hand_in)
        if not path.is_file():
            print(f"{path}: no such file", file=sys.stderr)
            return 2
        try:
            with Progress(f"population {args.connection}", quiet=args.quiet) as progress:
                result = intake.hand_in_file(connection, path, file_name=path.name, mode=args.mode, channel="manual",
                                             external_ref=f"cli-population:{uuid.uuid4()}",
                                             submitted_by=f"cli:{getpass.getuser()}", on_rows=progress.update)
        except intake.PopulationRefused as exc:
            print(f"{path}: not handed in (nothing stored):", file=sys.stderr)
            for problem in exc.problems:
                print(f"  - {problem}", file=sys.stderr)
            return 1
        v = result["population"]
        print(f"{args.connection}: population version {v['version']} ({v['mode']}) from submission "
              f"{result['submission_id']}: {v['rows_handed_in']:,} rows, {v['rows_rejected']:,} rejected, "
              f"+{v['added']:,} -{v['removed']:,}, {v['members']:,} BSNs now")
        for row in result["rejected_rows"][:20]:
            print(f"  row {row['row']}: {row['reason']}")
        return 0
    with db.connect() as conn:
        versions = population.versions(conn, connection["id"])
    if not versions:
        print(f"{args.connection}: no population handed in")
    for v in versions:
        print(f"version {v['version']:>3}  {v['applied_at']:%Y-%m-%d %H:%M}  {v['mode']:<9} submission "
              f"{v['submission_id']} ({v['channel']}, {v['submitted_by']}): {v['rows_handed_in']:,} rows, "
              f"{v['rows_rejected']:,} rejected, +{v['added']:,} -{v['removed']:,} = {v['members']:,}")
    return 0


def _doubts(args) -> int:
    from bbx.domain.bsn import mask
    from bbx.store import db
    from bbx.store import register as store

    with db.transaction() as conn:
        cid = _connection_id(conn, args.connection)
        if args.resolve:
            if not args.note:
                print("say how it was resolved (--note)", file=sys.stderr)
                return 2
            store.resolve_doubt(conn, args.resolve, by=f"cli:{getpass.getuser()}", resolution=args.note)
            print(f"doubt {args.resolve} resolved")
            return 0
        doubts = store.open_doubts(conn, cid)
    for d in doubts:
        print(f"{d['id']}: {mask(d['bsn'])} message {d['message_id']} ({d['source']}, {d['recorded_at']:%Y-%m-%d %H:%M})")
    if not doubts:
        print(f"{args.connection}: no open doubts")
    return 0


def _export(args) -> int:
    from bbx.progress import Progress
    from bbx.register.export import export_register

    with Progress(f"register export {args.connection}", unit="lines", quiet=args.quiet) as progress:
        result = export_register(args.connection, args.day or _today(), force=args.force, on_lines=progress.update)
    print(result.get("skipped") or f"written {result['path']} ({result['rows']:,} rows, sha256 {result['sha256']})")
    return 0


def add_parser(sub) -> None:
    """Add ``bbx register ...`` to the ``bbx`` command's subparsers."""
    from bbx import progress

    register = sub.add_parser("register", help="the BSN register").add_subparsers(dest="action", required=True)

    status = register.add_parser("status", help="freshness and last refresh per connection (exit 1: a bulk send is blocked)")
    status.add_argument("connections", nargs="*", metavar="CODE")
    status.set_defaults(func=_status)

    ack = register.add_parser("acknowledge", help="let bulk sends go although the register is stale")
    ack.add_argument("connection", metavar="CODE")
    ack.add_argument("--reason", required=True, help="why sending on this register is acceptable (audited)")
    ack.set_defaults(func=_acknowledge)

    lookup = register.add_parser("lookup", help="the subscription periods of a BSN")
    lookup.add_argument("connection", metavar="CODE")
    lookup.add_argument("bsn")
    lookup.add_argument("--live", action="store_true", help="also ask MijnOverheid now (ValidateAbonnementen)")
    lookup.add_argument("--message-type", help="for --live: the message type to ask for (default: the first active)")
    lookup.set_defaults(func=_lookup)

    report = register.add_parser("report", help="subscribed on a day, or sign-ups and sign-offs in a period")
    report.add_argument("connection", metavar="CODE")
    report.add_argument("--on", type=_day, metavar="DAY")
    report.add_argument("--from", dest="start", type=_day, metavar="DAY")
    report.add_argument("--to", dest="end", type=_day, metavar="DAY")
    report.add_argument("--bsns", action="store_true", help="list the BSNs too")
    report.add_argument("--population", action="store_true",
                        help="split by the connection's population (in it / outside it)")
    report.set_defaults(func=_report)
    people = register.add_parser("population", help="the connection's population (BSNs it serves)")
    people.add_argument("connection", metavar="CODE")
    people.add_argument("--hand-in", metavar="FILE", help="hand in a BSN list (one per line)")
    people.add_argument("--mode", choices=("full", "additions", "removals"), default="full")
    progress.add_argument(people)
    people.set_defaults(func=_population)

    doubts = register.add_parser("doubts", help="BSNs MijnOverheid refused although the register had them")
    doubts.add_argument("connection", metavar="CODE")
    doubts.add_argument("--resolve", type=int, metavar="ID")
    doubts.add_argument("--note", help="how the doubt was resolved")
    doubts.set_defaults(func=_doubts)

    export = register.add_parser("export", help="write the register export to the tenant's SFTP outbox")
    export.add_argument("connection", metavar="CODE")
    export.add_argument("--day", type=_day, metavar="DAY", help="default: today")
    export.add_argument("--force", action="store_true", help="write it again")
    progress.add_argument(export)
    export.set_defaults(func=_export)
