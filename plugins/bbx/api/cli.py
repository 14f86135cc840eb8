"""``bbx api-key ...`` — API keys for the web service and the pages.

    bbx api-key create --tenant CODE [--name NAME]   a key for one tenant (shown once)
    bbx api-key create --operator [--name NAME]      an operator key: sees every tenant
        [--scope person_view]                        only the person view (a BRP system)
        [--kind test]                                a test key: its sends go to the sandbox, never
                                                     to MijnOverheid (bbx_berichtenbox_sandbox)
        [--days N]                                   valid N days (default 365, at most 730)
    bbx api-key list                                 keys (prefix, tenant, role, expiry, last used)
    bbx api-key revoke PREFIX                        revoke a key and end its page sessions
"""

from __future__ import annotations

import getpass
import sys
from datetime import timedelta

from bbx.i18n import in_english


@in_english
def _create(args) -> int:
    from bbx.store import api_keys, db

    name = args.name or (f"{args.tenant} key" if args.tenant else "operator key")
    try:
        with db.transaction() as conn:
            new = api_keys.create_key(conn, tenant_code=args.tenant, operator=args.operator, name=name,
                                      created_by=f"cli:{getpass.getuser()}", scope=args.scope,
                                      lifetime=timedelta(days=args.days), kind=args.kind)
    except (api_keys.UnknownTenant, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    who = f"tenant {args.tenant}" if args.tenant else "operator (all tenants)"
    if args.kind == "test":
        who += ", TEST key: its sends go to the sandbox, never to MijnOverheid"
    print(f"API key for {who}, prefix {new.owner.prefix}, valid {args.days} days (shown once; store it safely):",
          file=sys.stderr)
    print(new.key)
    return 0


def _list(args) -> int:
    from bbx.store import api_keys, db

    with db.connect() as conn:
        rows = api_keys.list_keys(conn)
    if not rows:
        print("no API keys (bbx api-key create --tenant CODE)")
    for r in rows:
        state = (f"revoked {r['revoked_at']:%Y-%m-%d}" if r["revoked_at"]
                 else f"expired {r['expires_at']:%Y-%m-%d}" if r["expired"] else f"until {r['expires_at']:%Y-%m-%d}")
        used = f"{r['last_used_at']:%Y-%m-%d %H:%M}" if r["last_used_at"] else "never"
        print(f"{r['prefix']}  {r['role']:<8} {r['kind']:<4} {r['scope']:<11} {r['tenant'] or '-':<20} {state:<18} last used {used:<16} {r['name']}")
    return 0


def _revoke(args) -> int:
    from bbx.store import api_keys, db

    with db.transaction() as conn:
        done = api_keys.revoke(conn, args.prefix, actor=f"cli:{getpass.getuser()}")
    print(f"key {args.prefix} revoked" if done else f"no active key with prefix {args.prefix}")
    return 0 if done else 1


def add_parser(sub) -> None:
    """Add ``api-key`` to the ``bbx`` command's subparsers."""
    keys = sub.add_parser("api-key", help="API keys for the web service and pages").add_subparsers(
        dest="action", required=True)
    create = keys.add_parser("create", help="create a key (printed once)")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--tenant", help="tenant code: the key sees only this tenant's connections")
    who.add_argument("--operator", action="store_true", help="an operator key: sees every tenant")
    create.add_argument("--name", help="what the key is for (e.g. 'zaaksysteem productie')")
    create.add_argument("--scope", choices=("full", "person_view"), default="full",
                        help="full (default) or person_view: only the person view of a BRP system")
    create.add_argument("--kind", choices=("live", "test"), default="live",
                        help="live (default) or test: the key's sends go to the sandbox (the Airflow Connection "
                             "bbx_berichtenbox_sandbox), never to MijnOverheid")
    create.add_argument("--days", type=int, default=365, help="days the key is valid (default 365, at most 730)")
    create.set_defaults(func=_create)
    keys.add_parser("list", help="list keys").set_defaults(func=_list)
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("prefix", help="the 8 characters after 'bbx_' in the key")
    revoke.set_defaults(func=_revoke)

    from bbx.api import users_cli

    users_cli.add_parser(sub)
