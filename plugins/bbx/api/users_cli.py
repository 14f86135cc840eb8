"""``bbx users ...`` — people's accounts (issue 14): one place for operators, tenant
users and auditors, for the Airflow UI (``bbx.auth_manager``) and the BBX pages alike.

    bbx users add NAME --role operator|tenant|auditor [--tenant CODE] [--full-name TEXT]
                                      a new account; prints a generated password once
                                      (or --password-stdin to read one)
    bbx users list                    accounts, their role, tenant and last sign-in
    bbx users disable NAME            the person can no longer sign in; sessions end
    bbx users reset-password NAME     a new password (printed once); enables the account
"""

from __future__ import annotations

import getpass
import sys

from bbx.i18n import in_english


def _password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    from bbx.store import users

    return users.new_password()


@in_english
def _add(args) -> int:
    from bbx.store import db, users

    password = _password(args)
    try:
        with db.transaction() as conn:
            user = users.add(conn, username=args.name, password=password, role=args.role, tenant_code=args.tenant,
                             full_name=args.full_name or "", created_by=f"cli:{getpass.getuser()}")
    except users.AccountError as exc:
        print(f"bbx users add: {exc}", file=sys.stderr)
        return 2
    who = f"tenant user of {user.tenant_code}" if user.role == "tenant" else user.role
    print(f"user {user.username} added ({who})", file=sys.stderr)
    if not args.password_stdin:
        print("password (shown once; give it to the person, who signs in at /bbx/login or in Airflow):",
              file=sys.stderr)
        print(password)
    return 0


def _list(args) -> int:
    from bbx.store import db, users

    with db.connect() as conn:
        rows = users.list_users(conn)
    if not rows:
        print("no users (bbx users add NAME --role ...)")
    for r in rows:
        state = f"disabled {r['disabled_at']:%Y-%m-%d}" if r["disabled_at"] else "active"
        seen = f"{r['last_sign_in_at']:%Y-%m-%d %H:%M}" if r["last_sign_in_at"] else "never"
        print(f"{r['username']:<24} {r['role']:<8} {r['tenant'] or '-':<20} {state:<19} "
              f"last sign-in {seen:<16} {r['full_name']}")
    return 0


@in_english
def _disable(args) -> int:
    from bbx.store import db, users

    with db.transaction() as conn:
        done = users.disable(conn, args.name, actor=f"cli:{getpass.getuser()}")
    print(f"user {args.name} disabled" if done else f"no active user {args.name} (bbx users list)")
    return 0 if done else 1


@in_english
def _reset(args) -> int:
    from bbx.store import db, users

    password = _password(args)
    try:
        with db.transaction() as conn:
            users.reset_password(conn, args.name, password, actor=f"cli:{getpass.getuser()}")
    except users.AccountError as exc:
        print(f"bbx users reset-password: {exc}", file=sys.stderr)
        return 2
    print(f"new password for {args.name} (shown once):", file=sys.stderr)
    if not args.password_stdin:
        print(password)
    return 0


def add_parser(sub) -> None:
    people = sub.add_parser("users", help="people's accounts: operators, tenant users, auditors").add_subparsers(
        dest="action", required=True)
    add = people.add_parser("add", help="add an account (prints its password once)")
    add.add_argument("name", help="user name: lower-case letters, digits, '.', '_', '@', '-'")
    add.add_argument("--role", required=True, choices=("operator", "tenant", "auditor"))
    add.add_argument("--tenant", help="tenant code (role tenant only)")
    add.add_argument("--full-name", help="the person's name, shown on the pages")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(func=_add)
    people.add_parser("list", help="list accounts").set_defaults(func=_list)
    disable = people.add_parser("disable", help="disable an account and end its sessions")
    disable.add_argument("name")
    disable.set_defaults(func=_disable)
    reset = people.add_parser("reset-password", help="set a new password (and enable the account)")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    reset.set_defaults(func=_reset)
