"""``make demo`` — the main job, end to end, on the real platform, left running.

1. BBX's database (the local server, or an embedded PostgreSQL), migrations, a content
   key, the sample tenant configuration;
2. the platform as background services (``bbx.stack``): the MijnOverheid simulator, the
   tenant SFTP server, and Airflow's api-server, scheduler, dag-processor and triggerer
   (LocalExecutor); BBX's Connections and pool registered by ``bbx airflow setup``.
   A stack that already runs is reused;
3. on a fresh register: ``bbx_register_refresh`` over two simulated days (a full list
   yesterday, today's sign-ups and sign-offs), with the simulator's clock on each day;
4. a sample drop for every connection (or ``--drop FOLDER`` of your own, handed in as a
   tenant's SFTP client would: sub-folders and links included), uploaded over SFTP;
5. intake (``bbx_ingest__<connection>``, triggered through Airflow's REST API), delivery
   (``bbx_deliver``, on intake's asset event) and results — all run by the scheduler;
6. the reconciled counts per submission, the tenants' outboxes copied to ``demo-out/``,
   the UI address and sign-in. ``make stop`` stops the platform.

Exit codes: 0 every submission reconciled; 1 BBX or the platform failed (a run failed, a
timeout, counts that do not add up); 2 wrong arguments or configuration; 3 ``--drop``
was rejected by intake, as designed (the tenant's report is in ``demo-out/``).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bbx import crypto, settings
from bbx import stack as stack_module
from bbx.config.model import ConfigError, load
from bbx.stack import Stack
from bbx.store import administration, db, migrations
from bbx.store import demo as demo_store

SAMPLE_CONFIG = settings.PROJECT_ROOT / "config" / "sample" / "tenants.yaml"
DEMO_DIR = settings.DATA_DIR / "demo"
OUT_DIR = settings.PROJECT_ROOT / "demo-out"
# The simulator answers within a second, so the demo polls every second instead of the
# production intervals (register answers: 5 min; delivery results: 30 s).
DEMO_TIMINGS = {"BBX_REGISTER_POKE_SECONDS": "1", "BBX_RESULT_POLL_SECONDS": "1", "BBX_HOOK_BACKOFF": "0.2"}


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


# ---------------------------------------------------------------- 1. set-up
def prepare(config_file: Path = SAMPLE_CONFIG) -> str:
    """Database, migrations, key, configuration. Returns the BBX DB URL."""
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
    return url


def show_configuration(url: str) -> None:
    with db.connect(url) as conn:
        rows = administration.describe(conn)
    step(f"configured: {len({r['tenant'] for r in rows})} tenants, {len(rows)} connections")
    for row in rows:
        print(f"    {row['tenant']:<20} {row['connection']:<12} OIN {row['oin']}  {row['sftp_folder']:<32} "
              f"types: {row['message_types']}")


# ---------------------------------------------------------------- 2. uploads as the tenant
class DropError(Exception):
    """A drop folder that a tenant's SFTP client could not hand in as it is."""


def drop_entries(folder: Path) -> list[tuple[str, str, bytes | str]]:
    """What ``put -r folder`` of a tenant's SFTP client sends, in order: ("dir", path, ""),
    ("file", path, content) and ("link", path, target) — sub-folders and symbolic links
    are handed in as what they are (BBX's intake then judges them, as it would for a
    tenant), never flattened or followed."""
    entries: list[tuple[str, str, bytes | str]] = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            entries.append(("link", relative, os.readlink(path)))
        elif path.is_dir():
            entries.append(("dir", relative, ""))
        elif path.is_file():
            entries.append(("file", relative, path.read_bytes()))
        else:
            raise DropError(f"{path}: neither a file, a folder nor a link (a device or pipe cannot be uploaded)")
    return entries


def upload(stack: Stack, tenant_code: str, remote_folder: str, entries: list[tuple[str, str, bytes | str]]) -> list[str]:
    """Upload a drop as the tenant would: folders, files, links; the READY marker last,
    and only when the server took everything else (a tenant's client stops at an error).
    Returns what the server refused (e.g. links), as the tenant's client would show it."""
    import logging

    import paramiko

    logging.getLogger("paramiko").setLevel(logging.WARNING)
    transport = paramiko.Transport(("127.0.0.1", stack.sftp_port))
    transport.connect(username=tenant_code, password=stack.tenant_passwords[tenant_code])
    refused = []
    try:
        sftp = paramiko.SFTPClient.from_transport(transport)
        _makedirs(sftp, remote_folder)
        ordered = sorted(entries, key=lambda e: (e[0] == "file" and e[1].upper().startswith("READY"), e[0] != "dir"))
        for kind, name, content in ordered:
            if refused and kind == "file" and name.upper().startswith("READY"):
                break  # incomplete: never mark it ready
            target = f"{remote_folder}/{name}"
            try:
                if kind == "dir":
                    sftp.mkdir(target)
                elif kind == "link":
                    sftp.symlink(str(content), target)
                else:
                    with sftp.open(target, "wb") as handle:
                        handle.write(content)
            except OSError as exc:
                refused.append(f"{name}: the SFTP server refused the {kind} ({exc})")
    finally:
        transport.close()
    return refused


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


def sample_drops(stack: Stack, tenants, url: str) -> list[tuple[str, str, str, list]]:
    """(tenant, connection, drop folder, files) per connection: a mix of subscribed and
    not-subscribed citizens, personal texts and PDFs, and a few rows with mistakes."""
    from bbx.domain.bsn import generate

    admin = stack.admin()
    drops = []
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    with db.connect(url) as conn:
        used = demo_store.used_bsns(conn)
    for tenant in tenants:
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
            drops.append((tenant.code, c.code, inbox, [("file", n, b) for n, b in files.items()]))
    admin.close()
    return drops


def own_drop(tenants, folder: Path, connection_code: str) -> list[tuple[str, str, str, list]]:
    if not folder.is_dir():
        raise DropError(f"--drop {folder}: not a folder")
    for tenant in tenants:
        for c in tenant.connections:
            if c.code == connection_code:
                inbox = c.sftp_folder.removeprefix(f"/{tenant.code}") + f"/inbox/{folder.name}"
                return [(tenant.code, c.code, inbox, drop_entries(folder))]
    raise DropError(f"--connection {connection_code!r} is not a connection in the configuration")


# ---------------------------------------------------------------- 5. the DAGs
def submission_report(url: str, since: datetime) -> list[dict]:
    from bbx.store import submissions

    with db.connect(url) as conn:
        subs = demo_store.submissions_since(conn, since)
        for sub in subs:
            sub["counts"] = submissions.outcome_counts(conn, sub["id"])
    return subs


def print_report(subs: list[dict]) -> bool:
    step("reconciled counts per submission (rejected + not subscribed + delivered + failed = rows handed in)")
    all_closed = True
    for s in subs:
        c = s["counts"]
        if s["status"] == "rejected":
            all_closed = False
            print(f"    submission {s['id']:>3} {s['connection']:<10} {s['message_type'] or '-':<8} rejected as a "
                  "whole by intake (the tenant's .rejected.txt report is in the outbox)")
            continue
        final = c["rejected"] + c["not_subscribed"] + c["delivered"] + c["failed"]
        ok = s["status"] == "closed" and final == s["rows_handed_in"]
        all_closed &= ok
        still_open = "" if ok else f"   (still open: {c['planned'] + c['queued'] + c['sent']})"
        print(f"    submission {s['id']:>3} {s['connection']:<10} {s['message_type'] or '-':<8} {s['status']:<9} "
              f"rows {s['rows_handed_in'] or 0:>3} = rejected {c['rejected']} + not subscribed {c['not_subscribed']} "
              f"+ delivered {c['delivered']} + failed {c['failed']}{still_open}")
    return all_closed


def copy_outboxes(stack: Stack, tenants) -> None:
    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    for tenant in tenants:
        for c in tenant.connections:
            source = Path(stack.sftp_root) / c.sftp_folder.strip("/") / "outbox"
            if source.exists():
                shutil.copytree(source, OUT_DIR / c.sftp_folder.strip("/") / "outbox")
    files = sorted(p.relative_to(OUT_DIR) for p in OUT_DIR.rglob("*") if p.is_file()) if OUT_DIR.exists() else []
    step(f"tenant outboxes copied to {OUT_DIR} ({len(files)} files)")
    for f in files[:12]:
        print(f"    {f}")
    if len(files) > 12:
        print(f"    ... and {len(files) - 12} more")


# ---------------------------------------------------------------- 3. a register that changes
def last_register_day():
    """The last simulated register day: today (the Dutch date), or yesterday before today's
    05:00 run is due (its logical date must not lie ahead)."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from bbx.api import service

    today = service.today()
    if datetime.now(ZoneInfo("Europe/Amsterdam")).hour < 5:
        today -= timedelta(days=1)
    return today


def register_days(stack: Stack, api, url: str, days: int, connections: int) -> None:
    """The register over ``days`` simulated days up to today: one ``bbx_register_refresh``
    run per day (the first a full list, then each day's changes: real sign-ups and
    sign-offs of the simulator's population), each asked while the simulator's clock
    stands on that day.

    The DAG is still paused: every run is triggered first (today's with the logical date
    of today's scheduled run, so the scheduler does not add one of its own), then it is
    unpaused; the scheduler runs them in order (``max_active_runs=1``), and the clock moves
    on as soon as the simulator has answered the day's requests."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo


    today = last_register_day()
    admin = stack.admin()
    try:
        asked_before = len(admin.register_requests())
        schedule = []
        for back in range(days - 1, -1, -1):
            day = today - timedelta(days=back)
            # 04:00 UTC: the logical date of the 05:00 Europe/Amsterdam scheduled run (winter time)
            moment = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo("Europe/Amsterdam")).replace(hour=5)
            schedule.append((day, api.trigger("bbx_register_refresh", logical_date=moment.isoformat())))
        admin.set_today(schedule[0][0])
        api.unpause("bbx_register_refresh")
        for n, (day, _run_id) in enumerate(schedule, 1):
            # always the explicit day: "today" is the Dutch date, which is not the simulator's
            # own (UTC) date around midnight
            admin.set_today(day)
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:  # the simulator answers at once, for its "today"
                answered = [r for r in admin.register_requests()[asked_before:] if r.get("outcome") == "answered"]
                if len(answered) >= connections * n:
                    break
                time.sleep(0.3)
        for day, run_id in schedule:
            state = api.wait_for_run("bbx_register_refresh", run_id, 180)
            print(f"    bbx_register_refresh for {day} ({run_id}): {state}", flush=True)
            if state != "success":
                raise SystemExit(EXIT_FAILED)
    finally:
        admin.set_today(None)
        admin.close()
    with db.connect(url) as conn:
        rows = demo_store.applied_refreshes_after(conn, today - timedelta(days=days))
    for r in rows:
        print(f"    {r['code']:<12} {r['logical_date']} {r['kind']:<7} entries {r['entries'] or 0:>5}  "
              f"signed up {r['opened'] or 0:>4}  signed off {r['closed'] or 0:>4}")
    print(f"    (the sign-ups and sign-offs: {stack.api_url}/bbx/reports; a citizen's periods: "
          f"{stack.api_url}/bbx/lookup or `bbx register lookup CODE BSN`)")


def _register_done_today(url: str) -> bool:
    from bbx.api import service

    with db.connect(url) as conn:
        return demo_store.register_done(conn, service.today())


# exit codes of `make demo` (documented in README and docs/operations.md)
EXIT_OK = 0  # every submission reconciled and closed
EXIT_FAILED = 1  # BBX (or the platform) failed: a run failed, a timeout, counts that do not add up
EXIT_USAGE = 2  # wrong arguments or configuration
EXIT_REJECTED = 3  # --drop was rejected by intake, as designed (the tenant's report is in the outbox)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(SAMPLE_CONFIG), help="tenant configuration file")
    parser.add_argument("--drop", help="a drop folder of your own (docs/drop-protocol.md) instead of the samples")
    parser.add_argument("--connection", default="voorbeeld", help="connection that receives --drop (default voorbeeld)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for all outcomes")
    parser.add_argument("--register-days", type=int, default=2,
                        help="simulated days of register refreshes on a fresh register (default 2)")
    parser.add_argument("--result-dialect", choices=("live", "documented"), default="live",
                        help="how the simulator writes results (default live: VerwerkingsCode 00 as a live "
                             "adapter does; documented: as interface.md §3); used when the stack starts")
    args = parser.parse_args(argv)
    config_file = Path(args.config).resolve()
    begin = time.monotonic()

    url = prepare(config_file)
    show_configuration(url)
    tenants = load(config_file).tenants
    if args.drop:
        try:
            own = own_drop(tenants, Path(args.drop), args.connection)
        except DropError as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    # DAGs start paused: the demo unpauses them once parsed (the register refresh after
    # its first runs are queued, see register_days)
    settings_ = stack_module.StackSettings.default(bbx_url=url, tenants_file=config_file, extra_env=DEMO_TIMINGS,
                                                   result_dialect=args.result_dialect,
                                                   paused_at_creation=True)
    try:
        stack = stack_module.start(settings_, say=step)
        api = stack.api()
        dag_ids = ["bbx_register_refresh", "bbx_deliver", "bbx_collect_results"]
        dag_ids += [f"bbx_ingest__{c.code}" for t in tenants for c in t.connections]
        fresh_register = not _register_done_today(url)
        api.wait_for_dags(dag_ids, keep_paused=("bbx_register_refresh",) if fresh_register else ())
        step(f"DAGs parsed and unpaused: {', '.join(dag_ids)}")
    except stack_module.StackError as exc:
        print(f"the platform did not start: {exc}", file=sys.stderr)
        return EXIT_FAILED
    started = datetime.now(UTC)

    if fresh_register:
        from bbx import demo_population

        # issue 16: voorbeeld's population goes in before its first register export
        admin = stack.admin()
        try:
            population = demo_population.population_drops(admin, tenants)
        finally:
            admin.close()
        for tenant_code, connection_code, inbox, files in population:
            upload(stack, tenant_code, inbox, [("file", name, content) for name, content in files.items()])
            step(f"{tenant_code} dropped its population list into {inbox} over SFTP ({connection_code})")
            run_id = api.trigger(f"bbx_ingest__{connection_code}")
            print(f"    bbx_ingest__{connection_code} {run_id}: "
                  f"{api.wait_for_run(f'bbx_ingest__{connection_code}', run_id, 180)}", flush=True)
        step(f"register over {args.register_days} simulated days (bbx_register_refresh, run by the scheduler)")
        register_days(stack, api, url, args.register_days, sum(len(t.connections) for t in tenants))
    else:
        step("register: already refreshed today")

    drops = own if args.drop else sample_drops(stack, tenants, url)
    for tenant_code, connection_code, inbox, entries in drops:
        refused = upload(stack, tenant_code, inbox, entries)
        step(f"{tenant_code} dropped {len(entries)} entries into {inbox} over SFTP ({connection_code})")
        if refused:
            for line in refused:
                print(f"    {line}", file=sys.stderr)
            print("the drop was not handed in (no READY marker), as a tenant's SFTP client would fail; "
                  "`bbx intake check FOLDER` names every problem", file=sys.stderr)
            return EXIT_REJECTED

    step("intake (bbx_ingest__<connection>), then delivery on intake's asset event (bbx_deliver) and results")
    runs = {code: api.trigger(f"bbx_ingest__{code}") for code in sorted({d[1] for d in drops})}
    for code, run_id in runs.items():
        state = api.wait_for_run(f"bbx_ingest__{code}", run_id, 180)
        print(f"    bbx_ingest__{code} {run_id}: {state}", flush=True)
        if state != "success":
            print(f"    see the task logs in the UI or {stack.airflow_home}/logs", flush=True)
    deadline = time.monotonic() + args.timeout
    subs = submission_report(url, started)
    while not all(s["status"] in ("closed", "rejected") for s in subs) and time.monotonic() < deadline:
        time.sleep(1)
        subs = submission_report(url, started)

    reconciled = print_report(subs)
    for run in api.runs("bbx_deliver", limit=5):
        if run["start_date"] and run["start_date"] >= started.isoformat():
            print(f"    bbx_deliver {run['dag_run_id']}: {run['state']} ({run['run_type']})")
    copy_outboxes(stack, tenants)
    print()
    print(f"Airflow UI:   {stack.api_url}   sign in as {stack_module.ADMIN_USER} / {stack.password}")
    print(f"BBX pages:    {stack.api_url}/bbx/send   (API key: bbx api-key create ...)   API docs: "
          f"{stack.api_url}/bbx/api/v1/docs")
    print(f"Logs and pid files: {stack.state_dir}/   Stop everything: make stop")
    print(f"make demo took {time.monotonic() - begin:.0f} s")
    if not subs:
        print("no submission was handed in (see the intake runs in the UI)", file=sys.stderr)
        return EXIT_FAILED
    if args.drop and all(s["status"] == "rejected" for s in subs):
        print("your drop was rejected by intake, as designed: see the report in demo-out/", file=sys.stderr)
        return EXIT_REJECTED
    return EXIT_OK if reconciled else EXIT_FAILED


EXIT_MEANING = {EXIT_OK: "every submission reconciled", EXIT_FAILED: "BBX or the platform failed",
                EXIT_USAGE: "wrong arguments or configuration", EXIT_REJECTED: "the drop was rejected as designed"}


def run(argv: list[str] | None = None) -> int:
    """``main`` with its exit code said in words: ``make`` itself only ever exits 0 or 2
    (it shows the code as ``Error N``), so the line says which one it was."""
    code = main(argv)
    print(f"make demo: exit {code} — {EXIT_MEANING.get(code, 'unexpected')}", file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(run())
