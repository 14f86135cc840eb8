"""``bbx standard-texts ...`` — the versions of a message type's standard text (operators).

    bbx standard-texts list CONNECTION TYPE             every version, newest (current) first
    bbx standard-texts show CONNECTION TYPE [VERSION]   one version's text (default: current)
    bbx standard-texts rollback CONNECTION TYPE VERSION make an older version current again

A rollback adds a new version with the old text (audited as ``standard_text.rolled_back``);
submissions already planned keep the version they were planned with (bbx.domain.standard_texts).
"""

from __future__ import annotations

import getpass
import sys


def _versions(args) -> list[dict] | None:
    """The versions of the message type the arguments name (None: no such type, said why)."""
    from bbx.store import db, standard_texts

    with db.connect() as conn:
        found = standard_texts.message_type_by_codes(conn, args.connection, args.type)
        if found is None:
            print(f"connection {args.connection} has no message type {args.type}", file=sys.stderr)
            return None
        return standard_texts.versions(conn, found["id"])


def _list(args) -> int:
    rows = _versions(args)
    if rows is None:
        return 2
    for index, r in enumerate(rows):
        text = "(no standard text)" if r["text"] is None else f"{len(r['text'])} characters, sha256 {r['sha256'][:12]}"
        copied = f" (copy of v{r['rolled_back_from']})" if r["rolled_back_from"] else ""
        current = "  current" if index == 0 else ""
        print(f"v{r['version']:<4} {r['created_at']:%Y-%m-%d %H:%M} {r['source']:<8} {r['actor']:<24} "
              f"{text}{copied}{current}")
    return 0


def _show(args) -> int:
    rows = _versions(args)
    if rows is None:
        return 2
    chosen = rows[0] if args.version is None and rows else next((r for r in rows if r["version"] == args.version), None)
    if chosen is None:
        print(f"{args.connection}/{args.type} has no version {args.version}", file=sys.stderr)
        return 2
    print(chosen["text"] if chosen["text"] is not None else "(no standard text)")
    return 0


def _rollback(args) -> int:
    from bbx.store import db, standard_texts

    with db.connect() as conn:
        found = standard_texts.message_type_by_codes(conn, args.connection, args.type)
        new = None if found is None else standard_texts.rollback(conn, found["id"], args.version,
                                                                 actor=f"cli:{getpass.getuser()}")
        if new is None:
            print(f"{args.connection}/{args.type}: no such message type or version {args.version}", file=sys.stderr)
            return 2
        conn.commit()
    print(f"{args.connection}/{args.type}: version {new['version']} is current (the text of version {args.version})")
    return 0


def add_parser(sub) -> None:
    """Add ``standard-texts`` to the ``bbx`` command's subparsers."""
    parser = sub.add_parser("standard-texts", help="versions of message types' standard texts").add_subparsers(
        dest="action", required=True)
    for name, func, help_text in (("list", _list, "every version, newest (current) first"),
                                  ("show", _show, "one version's text (default: the current one)"),
                                  ("rollback", _rollback, "make an older version current again (a new version)")):
        p = parser.add_parser(name, help=help_text)
        p.add_argument("connection", help="connection code")
        p.add_argument("type", help="message type code")
        if name == "show":
            p.add_argument("version", type=int, nargs="?")
        elif name == "rollback":
            p.add_argument("version", type=int)
        p.set_defaults(func=func)
