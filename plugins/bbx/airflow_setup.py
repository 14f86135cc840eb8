"""``bbx airflow setup`` — register BBX's Airflow Connections and pool, idempotently.

What an operator would do in *Admin → Connections / Pools*, done through Airflow's own
models in its metadata database (run it with the Airflow environment of the deployment):

* ``bbx_db`` — BBX's PostgreSQL database (type ``postgres``);
* ``bbx_sftp`` — BBX's own account on the tenant SFTP server (type ``sftp``);
* ``berichtenbox_<connection>`` — one per configured connection (type ``berichtenbox``):
  the ebMS adapter's base URL, CPA id, party id, client certificate and key, trust chain
  and the ValidateAbonnementen URL;
* ``bbx_berichtenbox_sandbox`` — with ``--sandbox-url``: where *test* API keys' batches go
  (the simulator or a sink; never MijnOverheid). It names no CPA or party: each BBX
  connection's own are used. Its certificate speaks for every connection (an intermediary's;
  with ``--pki-dir`` the demo's ``DEMO_SANDBOX_OIN``);
* the pool ``berichtenbox`` (concurrent sends to the ebMS adapter).

A connection that exists with the same values is left alone; one that differs is updated
(and reported). Certificates are checked first (``bbx.hooks.certificates``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

POOL = "berichtenbox"
DEMO_SANDBOX_OIN = "00000001009999999000"  # the demo's sandbox certificate (the simulator accepts it on every CPA)


def desired_connections(args, connections: list[dict]) -> dict[str, dict]:
    wanted: dict[str, dict] = {}
    if args.database_url:
        wanted["bbx_db"] = {"uri": args.database_url.replace("postgresql://", "postgres://", 1)}
    if args.sftp:
        host, _, port = args.sftp.rpartition(":")
        wanted["bbx_sftp"] = {"conn_type": "sftp", "host": host, "port": int(port), "login": args.sftp_login,
                              "password": args.sftp_password,
                              "extra": {"no_host_key_check": "true", "allow_host_key_change": "true"}}
    if args.berichtenbox_url:
        from simulator.pki import make_test_pki

        pki = make_test_pki(Path(args.pki_dir), [c["oin"] for c in connections]) if args.pki_dir else None
        for c in connections:
            pair = pki.client(c["oin"]) if pki else None
            base = args.berichtenbox_url.rstrip("/")
            wanted[f"berichtenbox_{c['code']}"] = {
                "conn_type": "berichtenbox", "host": base,
                "description": f"ebMS adapter for {c['code']} (OIN {c['oin']})",
                "extra": {"cpa_id": c["cpa_id"], "from_party_id": f"urn:osb:oin:{c['oin']}",
                          "client_cert": str(pair.cert) if pair else "", "client_key": str(pair.key) if pair else "",
                          "ca_cert": str(pki.ca) if pki else "", "oin": c["oin"],
                          "validatie_url": f"{base}/BerichtenboxValidatieService", "timeout": 30},
            }
    if args.sandbox_url:
        from bbx.hooks.berichtenbox import SANDBOX_CONN_ID
        from simulator.pki import make_test_pki

        pki = make_test_pki(Path(args.pki_dir), [DEMO_SANDBOX_OIN]) if args.pki_dir else None
        pair = pki.client(DEMO_SANDBOX_OIN) if pki else None
        wanted[SANDBOX_CONN_ID] = {
            "conn_type": "berichtenbox", "host": args.sandbox_url.rstrip("/"),
            "description": "sandbox for test API keys: never MijnOverheid (CPA and party: each connection's own)",
            "extra": {"client_cert": str(pair.cert) if pair else "", "client_key": str(pair.key) if pair else "",
                      "ca_cert": str(pki.ca) if pki else "", "oin": DEMO_SANDBOX_OIN if pki else "",
                      "timeout": 30},
        }
    return wanted


def _configured_connections(database_url: str | None) -> list[dict]:
    from bbx.store import administration, db

    with db.connect(database_url) as conn:
        return administration.active_connections(conn)


def _same(existing, wanted) -> bool:
    return (existing.conn_type, existing.host, existing.port, existing.login, existing.password,
            existing.extra_dejson, existing.schema) == (
        wanted.conn_type, wanted.host, wanted.port, wanted.login, wanted.password, wanted.extra_dejson,
        wanted.schema)


def apply(wanted: dict[str, dict], pool_slots: int, variables: dict[str, str] | None = None) -> list[str]:
    from airflow.models import Connection, Pool, Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    report = []
    with create_session() as session:
        for conn_id, spec in wanted.items():
            spec = dict(spec)
            if "extra" in spec:
                spec["extra"] = json.dumps(spec["extra"], sort_keys=True)
            new = Connection(conn_id=conn_id, **spec)
            existing = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
            if existing is None:
                session.add(new)
                report.append(f"connection {conn_id}: created ({new.conn_type})")
            elif _same(existing, new):
                report.append(f"connection {conn_id}: unchanged")
            else:
                for attr in ("conn_type", "host", "port", "login", "schema", "description"):
                    setattr(existing, attr, getattr(new, attr))
                existing.set_password(new.password)
                existing.set_extra(new.extra)
                report.append(f"connection {conn_id}: updated")
        pool = session.scalar(select(Pool).where(Pool.pool == POOL))
        if pool is None or pool.slots != pool_slots:
            Pool.create_or_update_pool(POOL, pool_slots, "concurrent sends to the ebMS adapter",
                                       include_deferred=False, session=session)
            report.append(f"pool {POOL}: {pool_slots} slots ({'created' if pool is None else 'updated'})")
        else:
            report.append(f"pool {POOL}: unchanged ({pool_slots} slots)")
        for key, value in (variables or {}).items():
            Variable.set(key, value, session=session)
            report.append(f"variable {key}: set")  # never its value: a variable may hold a secret
    return report


def _setup(args) -> int:
    from bbx import settings
    from bbx.hooks import certificates

    database_url = args.database_url or settings.database_url()
    connections = _configured_connections(database_url)
    wanted = desired_connections(args, connections)
    problems = []
    for conn_id, spec in wanted.items():
        if spec.get("conn_type") == "berichtenbox" and spec["extra"]["client_cert"]:
            extra = spec["extra"]
            problems += [f"{conn_id}: {p}" for p in certificates.check(extra["client_cert"], extra["ca_cert"],
                                                                         oin=extra["oin"], key=extra["client_key"])]
    if problems:
        print("certificates not usable:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    variables = None
    if args.variables_file:
        variables = json.loads(Path(args.variables_file).read_text())
        if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
            print(f"{args.variables_file}: expected a JSON object of variable names to text values", file=sys.stderr)
            return 2
    for line in apply(wanted, args.pool_slots, variables):
        print(line)
    return 0


def add_parser(sub) -> None:
    airflow = sub.add_parser("airflow", help="BBX's Airflow Connections and pool").add_subparsers(
        dest="action", required=True)
    setup = airflow.add_parser("setup", help="register bbx_db, bbx_sftp, berichtenbox_<connection> and the pool "
                                             "in Airflow's metadata database (idempotent)")
    setup.add_argument("--database-url", help="BBX's database for bbx_db (default: as BBX finds it now)")
    setup.add_argument("--sftp", metavar="HOST:PORT", help="the tenant SFTP server, for bbx_sftp")
    setup.add_argument("--sftp-login", default="bbx")
    setup.add_argument("--sftp-password", default=os.environ.get("BBX_SFTP_PASSWORD"),
                       help="default: the variable BBX_SFTP_PASSWORD (keeps it off the command line)")
    setup.add_argument("--berichtenbox-url", metavar="URL", help="the ebMS adapter, for berichtenbox_<connection>")
    setup.add_argument("--sandbox-url", metavar="URL",
                       help="the sandbox for test API keys (the simulator or a sink), for bbx_berichtenbox_sandbox")
    setup.add_argument("--pki-dir", help="client certificates per OIN in the layout of simulator.pki "
                                         "(the demo's simulator); without it the certificate fields stay empty")
    setup.add_argument("--pool-slots", type=int, default=4)
    setup.add_argument("--variables-file", metavar="FILE",
                       help="a JSON object of Airflow Variables to set too (name: text), e.g. a secret kept off "
                            "the command line; set in the same start-up as the Connections")
    setup.set_defaults(func=_setup)
