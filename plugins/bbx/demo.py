"""``make demo`` — the main job, end to end, on the embedded defaults.

1. BBX's database (the local server, or an embedded PostgreSQL), migrations, a content
   key, the sample tenant configuration, Airflow's home and metadata database;
2. the outside world, started in this process: the MijnOverheid simulator (HTTPS with
   client certificates, a test PKI of its own) and an SFTP server with one chrooted
   account per tenant;
3. the register of every connection built from the simulator's subscription list;
4. a sample drop for every connection (or ``--drop FOLDER`` of your own), uploaded as the
   tenant over SFTP;
5. intake → delivery → results, as the real DAGs (``dag.test()``: the runs are in
   Airflow's database, so ``make airflow-standalone`` shows them afterwards);
6. the reconciled counts per submission, and the tenants' outboxes copied to ``demo-out/``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bbx import airflow_env, crypto, settings
from bbx.config.model import ConfigError, load
from bbx.store import administration, db, migrations

SAMPLE_CONFIG = settings.PROJECT_ROOT / "config" / "sample" / "tenants.yaml"
DEMO_DIR = settings.DATA_DIR / "demo"
OUT_DIR = settings.PROJECT_ROOT / "demo-out"
BBX_SFTP_PASSWORD = "bbx-demo"  # demo accounts on a server that listens on 127.0.0.1 only
# The simulator answers within a second, so the demo polls every second instead of the
# production intervals (register answers: 5 min; delivery results: 30 s).
DEMO_TIMINGS = {"BBX_REGISTER_POKE_SECONDS": "1", "BBX_RESULT_POLL_SECONDS": "1", "BBX_HOOK_BACKOFF": "0.2"}


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


# ---------------------------------------------------------------- 1. set-up
def prepare(config_file: Path = SAMPLE_CONFIG) -> str:
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
    step(f"configuration {config_file.name}: {summary.created} created, {summary.updated} updated, "
         f"{summary.unchanged} unchanged")
    prepare_airflow(url)
    return url


def prepare_airflow(url: str) -> None:
    env = {**os.environ, **airflow_env.environment(url)}
    airflow_env.AIRFLOW_HOME.mkdir(exist_ok=True)
    db.ensure_database(airflow_env.metadata_url(url))
    step(f"Airflow home {airflow_env.AIRFLOW_HOME}: metadata database and pool 'berichtenbox'")
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([*airflow, "pools", "set", "berichtenbox", "4", "concurrent sends to the ebMS adapter"],
                   env=env, check=True, capture_output=True)


def show_configuration(url: str) -> None:
    with db.connect(url) as conn:
        rows = administration.describe(conn)
    step(f"configured: {len({r['tenant'] for r in rows})} tenants, {len(rows)} connections")
    for row in rows:
        print(f"    {row['tenant']:<20} {row['connection']:<12} OIN {row['oin']}  {row['sftp_folder']:<32} "
              f"types: {row['message_types']}")


# ---------------------------------------------------------------- 2. the outside world
class World:
    """The simulator and the SFTP server, running in this process."""

    def __init__(self, config_file: Path):
        from simulator.config import SenderConfig, SimulatorConfig, senders_from_tenants
        from simulator.pki import make_test_pki
        from simulator.server import RunningSimulator, TlsFiles
        from simulator.sftp_server import SftpServer, SftpUser

        self.tenants = load(config_file).tenants
        oins = [c.oin for t in self.tenants for c in t.connections]
        self.pki = make_test_pki(DEMO_DIR / "pki", oins)
        senders = [SenderConfig.from_dict({**s, "population": {"size": 5000}}) for s in senders_from_tenants(config_file)]
        sim_config = SimulatorConfig(senders=senders, result_delay=0.5, register_delay=0.5)
        tls = TlsFiles(self.pki.server.cert, self.pki.server.key, self.pki.ca)
        self.simulator = RunningSimulator(sim_config, tls).start()
        step(f"simulator (MijnOverheid + ebMS adapter) at {self.simulator.base_url}, PKI in {self.pki.folder}")

        self.sftp_root = DEMO_DIR / "sftp"
        users = [SftpUser("bbx", BBX_SFTP_PASSWORD)] + [SftpUser.tenant(t.code, f"{t.code}-demo") for t in self.tenants]
        self.sftp = SftpServer(self.sftp_root, users).start()
        step(f"SFTP server at 127.0.0.1:{self.sftp.port} (root {self.sftp_root}), one chrooted account per tenant")

    def airflow_connections(self) -> dict[str, str]:
        env = {"AIRFLOW_CONN_BBX_SFTP": json.dumps(self.sftp.airflow_connection("bbx"))}
        for tenant in self.tenants:
            for c in tenant.connections:
                pair = self.pki.client(c.oin)
                env[f"AIRFLOW_CONN_BERICHTENBOX_{c.code.upper()}"] = json.dumps({
                    "conn_type": "berichtenbox", "host": self.simulator.base_url,
                    "extra": {"cpa_id": c.cpa_id, "from_party_id": f"urn:osb:oin:{c.oin}",
                              "client_cert": str(pair.cert), "client_key": str(pair.key),
                              "ca_cert": str(self.pki.ca), "validatie_url": self.simulator.base_url
                              + "/BerichtenboxValidatieService", "timeout": 30},
                })
        return env

    def admin(self):
        from simulator.client import AdminClient

        return AdminClient(self.simulator.base_url, self.pki.ca, self.pki.admin)

    def upload(self, tenant_code: str, remote_folder: str, files: dict[str, bytes]) -> None:
        """Upload a drop as the tenant would: files first, the READY marker last."""
        import logging

        import paramiko

        logging.getLogger("paramiko").setLevel(logging.WARNING)
        transport = paramiko.Transport(("127.0.0.1", self.sftp.port))
        transport.connect(username=tenant_code, password=f"{tenant_code}-demo")
        try:
            sftp = paramiko.SFTPClient.from_transport(transport)
            _makedirs(sftp, remote_folder)
            for name in sorted(files, key=lambda n: n.upper().startswith("READY")):
                with sftp.open(f"{remote_folder}/{name}", "wb") as handle:
                    handle.write(files[name])
        finally:
            transport.close()

    def stop(self) -> None:
        self.sftp.stop()
        self.simulator.stop()


def _makedirs(sftp, path: str) -> None:
    current = ""
    for part in path.strip("/").split("/"):
        current += "/" + part
        try:
            sftp.stat(current)
        except OSError:
            sftp.mkdir(current)


# ---------------------------------------------------------------- 4. sample drops
def _csv(rows: list[list[str]], header: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")  # as Excel writes it


def _letter_pdf(title: str, body: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 7, body, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _fresh(admin, oin: str, status: str, count: int, used: set[str]) -> list[str]:
    """``count`` citizens of the simulator's population not handed in before, so that a
    second demo run shows a new delivery (BBX would rightly refuse to send twice)."""
    found = [b for b in admin.sample(oin, status=status, limit=count + len(used)) if b not in used]
    return found[:count]


def sample_drops(world: World, url: str) -> list[tuple[str, str, str, dict[str, bytes]]]:
    """(tenant, connection, drop folder, files) per connection: a mix of subscribed and
    not-subscribed citizens, personal texts and PDFs, and a few rows with mistakes."""
    from bbx.domain.bsn import generate

    admin = world.admin()
    drops = []
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    with db.connect(url) as conn:
        used = {r["bsn"] for r in conn.execute("SELECT DISTINCT bsn FROM messages WHERE bsn IS NOT NULL")}
    for tenant in world.tenants:
        for c in tenant.connections:
            subscribed = _fresh(admin, c.oin, "active", 12, used)
            not_subscribed = _fresh(admin, c.oin, "never", 6, used)
            inbox = c.sftp_folder.removeprefix(f"/{tenant.code}") + f"/inbox/demo-{stamp}"
            if c.code == "voorbeeld":
                rows = [[b] for b in subscribed[:8] + not_subscribed[:4]]
                rows += [["123456789"], [subscribed[0]], [subscribed[8][1:] if subscribed[8].startswith("0") else "12345"]]
                files = {"bsns.csv": _csv(rows, ["bsn"]), "READY": b"message_type: PASPRT\ndrop_id: demo-" + stamp.encode() + b"\n"}
            elif c.code == "pf_metaal":
                bsns = subscribed[:6] + not_subscribed[:2]
                files = {"deelnemers.csv": _csv([[b] for b in bsns], ["bsn"])}
                for b in bsns:
                    files[f"{b}_1.pdf"] = _letter_pdf("Uniform Pensioenoverzicht 2026", "Uw opgebouwde pensioen per 1 januari 2026.")
                files["READY"] = b"message_type: UPO2026\npdfs_per_bsn: 1\n"
            else:
                rows = [[b, f"Beste deelnemer,\nuw pensioen gaat in op 1-{i + 1}-2027.", "", f"PZ-{i:05d}"]
                        for i, b in enumerate(subscribed[:6] + not_subscribed[:2])]
                rows.append([str(next(generate(1, seed=99))), "x" * 4001, "", ""])  # text too long
                files = {"teksten.csv": _csv(rows, ["bsn", "tekst", "onderwerp", "referentie"]),
                         "READY": b"message_type: UPO2026\n"}
            drops.append((tenant.code, c.code, inbox, files))
    admin.close()
    return drops


def own_drop(world: World, folder: Path, connection_code: str) -> list[tuple[str, str, str, dict[str, bytes]]]:
    for tenant in world.tenants:
        for c in tenant.connections:
            if c.code == connection_code:
                files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
                inbox = c.sftp_folder.removeprefix(f"/{tenant.code}") + f"/inbox/{folder.name}"
                return [(tenant.code, c.code, inbox, files)]
    raise SystemExit(f"--connection {connection_code!r} is not a connection in the configuration")


# ---------------------------------------------------------------- 5. the DAGs
RUN_LOG = DEMO_DIR / "airflow-runs.log"


@contextlib.contextmanager
def _output_to(path: Path):
    """Send this process's stdout/stderr (Airflow's task logs) to a file meanwhile."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def run_dag(dag_id: str, **conf) -> str:
    """One run of a real DAG (``dag.test()``); its task logs go to RUN_LOG."""
    with _output_to(RUN_LOG):
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(settings.PROJECT_ROOT / "dags"))
        dag = bag.dags.get(dag_id)
        run = dag.test(run_conf=conf or None) if dag else None
    if dag is None:
        raise SystemExit(f"DAG {dag_id} not found (import errors: {bag.import_errors or 'none'}; see {RUN_LOG})")
    state = str(getattr(run, "state", "unknown"))
    print(f"    {dag_id}: {state}", flush=True)
    if state != "success":
        print(f"    (task logs in {RUN_LOG})", flush=True)
    return state


def submission_report(url: str, since: datetime) -> list[dict]:
    from bbx.store import submissions

    with db.connect(url) as conn:
        subs = conn.execute(
            """SELECT s.id, s.status, s.rows_handed_in, s.channel, c.code AS connection, m.code AS message_type
               FROM submissions s JOIN connections c ON c.id = s.connection_id
               LEFT JOIN message_types m ON m.id = s.message_type_id
               WHERE s.received_at >= %s AND s.kind = 'messages' ORDER BY s.id""", (since,),
        ).fetchall()
        for sub in subs:
            sub["counts"] = submissions.outcome_counts(conn, sub["id"])
    return subs


def print_report(subs: list[dict]) -> bool:
    step("reconciled counts per submission (rejected + not subscribed + delivered + failed = rows handed in)")
    all_closed = True
    for s in subs:
        c = s["counts"]
        final = c["rejected"] + c["not_subscribed"] + c["delivered"] + c["failed"]
        ok = s["status"] == "closed" and final == s["rows_handed_in"]
        all_closed &= ok
        still_open = "" if ok else f"   (still open: {c['planned'] + c['queued'] + c['sent']})"
        print(f"    submission {s['id']:>3} {s['connection']:<10} {s['message_type'] or '-':<8} {s['status']:<9} "
              f"rows {s['rows_handed_in'] or 0:>3} = rejected {c['rejected']} + not subscribed {c['not_subscribed']} "
              f"+ delivered {c['delivered']} + failed {c['failed']}{still_open}")
    return all_closed


def copy_outboxes(world: World) -> None:
    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    for tenant in world.tenants:
        for c in tenant.connections:
            source = world.sftp_root / c.sftp_folder.strip("/") / "outbox"
            if source.exists():
                shutil.copytree(source, OUT_DIR / c.sftp_folder.strip("/") / "outbox")
    files = sorted(p.relative_to(OUT_DIR) for p in OUT_DIR.rglob("*") if p.is_file()) if OUT_DIR.exists() else []
    step(f"tenant outboxes copied to {OUT_DIR} ({len(files)} files)")
    for f in files:
        print(f"    {f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(SAMPLE_CONFIG), help="tenant configuration file")
    parser.add_argument("--drop", help="a drop folder of your own (docs/drop-protocol.md) instead of the samples")
    parser.add_argument("--connection", default="voorbeeld", help="connection that receives --drop (default voorbeeld)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for all outcomes")
    args = parser.parse_args(argv)
    config_file = Path(args.config).resolve()

    url = prepare(config_file)
    show_configuration(url)
    os.environ.update(airflow_env.environment(url))  # before anything imports airflow
    os.environ.update(DEMO_TIMINGS)
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    RUN_LOG.write_text("")
    world = World(config_file)
    try:
        os.environ.update(world.airflow_connections())
        started = datetime.now(UTC)

        from bbx import demo_population

        # issue 16: voorbeeld's population goes in before its first register export
        for tenant_code, connection_code, inbox, files in demo_population.population_drops(world):
            world.upload(tenant_code, inbox, files)
            step(f"{tenant_code} dropped its population list into {inbox}")
            run_dag(f"bbx_ingest__{connection_code}")

        step("register: full subscription list per connection (bbx_register_refresh)")
        run_dag("bbx_register_refresh")

        drops = own_drop(world, Path(args.drop), args.connection) if args.drop else sample_drops(world, url)
        for tenant_code, connection_code, inbox, files in drops:
            world.upload(tenant_code, inbox, files)
            step(f"{tenant_code} dropped {len(files)} files into {inbox} ({connection_code})")

        step("intake (bbx_ingest__<connection>)")
        for connection_code in sorted({d[1] for d in drops}):
            run_dag(f"bbx_ingest__{connection_code}")

        step("delivery and results (bbx_deliver, then bbx_collect_results until every row has its outcome)")
        run_dag("bbx_deliver")
        deadline = time.monotonic() + args.timeout
        subs = submission_report(url, started)
        while not all(s["status"] in ("closed", "rejected") for s in subs) and time.monotonic() < deadline:
            time.sleep(1)
            run_dag("bbx_collect_results")
            subs = submission_report(url, started)

        reconciled = print_report(subs)
        copy_outboxes(world)
    finally:
        world.stop()
    print()
    print("See the runs in the Airflow UI: make airflow-standalone, then http://localhost:8080")
    return 0 if reconciled and subs else 1


if __name__ == "__main__":
    sys.exit(main())
