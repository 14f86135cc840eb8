"""``bbx client-cert ...`` — client certificates (mTLS) of the web service
(bbx.api.client_certs). A certificate with a connection's OIN as subject serialNumber
needs nothing here; register the subject of any other certificate:

    bbx client-cert add --tenant CODE --cert FILE     the subject of this certificate (PEM)
    bbx client-cert add --tenant CODE --subject DN    an RFC 4514 subject, e.g. 'CN=zaak,O=Gemeente'
    bbx client-cert list                              registered subjects
    bbx client-cert remove DN                         no longer accepted
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path


def _subject(args) -> str:
    if args.cert:
        from cryptography import x509

        return x509.load_pem_x509_certificate(Path(args.cert).read_bytes()).subject.rfc4514_string()
    from cryptography.x509 import Name

    return Name.from_rfc4514_string(args.subject).rfc4514_string()  # the form BBX compares


def _add(args) -> int:
    from bbx.store import client_subjects, db

    try:
        subject = _subject(args)
    except (OSError, ValueError) as exc:
        print(f"cannot read the subject: {exc}", file=sys.stderr)
        return 2
    try:
        with db.transaction() as conn:
            client_subjects.add(conn, tenant_code=args.tenant, subject=subject, actor=f"cli:{getpass.getuser()}")
    except client_subjects.UnknownTenant as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"client certificates with subject {subject} now act for tenant {args.tenant}")
    return 0


def _list(args) -> int:
    from bbx.store import client_subjects, db

    with db.connect() as conn:
        rows = client_subjects.list_subjects(conn)
    if not rows:
        print("no registered subjects (certificates with a connection's OIN need none)")
    for r in rows:
        print(f"{r['tenant']:<20} {r['subject']}  (added {r['created_at']:%Y-%m-%d} by {r['created_by']})")
    return 0


def _remove(args) -> int:
    from bbx.store import client_subjects, db

    with db.transaction() as conn:
        done = client_subjects.remove(conn, subject=args.subject, actor=f"cli:{getpass.getuser()}")
    print(f"subject {args.subject} removed" if done else f"no registered subject {args.subject}")
    return 0 if done else 1


def add_parser(sub) -> None:
    """Add ``client-cert`` to the ``bbx`` command's subparsers."""
    certs = sub.add_parser("client-cert", help="client certificates (mTLS) of the web service").add_subparsers(
        dest="action", required=True)
    add = certs.add_parser("add", help="accept a certificate subject for a tenant")
    add.add_argument("--tenant", required=True, help="tenant code")
    which = add.add_mutually_exclusive_group(required=True)
    which.add_argument("--cert", help="a PEM certificate: its subject is registered")
    which.add_argument("--subject", help="an RFC 4514 subject")
    add.set_defaults(func=_add)
    certs.add_parser("list", help="registered subjects").set_defaults(func=_list)
    remove = certs.add_parser("remove", help="stop accepting a subject")
    remove.add_argument("subject", help="as `bbx client-cert list` prints it")
    remove.set_defaults(func=_remove)
