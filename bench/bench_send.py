"""Sending: plan → last batch acknowledged, N subscribed standard-text messages, beside a
plain baseline measured in the same run.

Target (issue 17): >= 10,000 messages/s sustained for 400,000 subscribed messages. This
script

1. makes a fresh BBX database (``<prefix>bbx_bench_send``) with the sample configuration,
   N citizens in the register of connection ``voorbeeld`` (all subscribed), and hands in
   one submission of N rows (untimed; the four-eyes threshold is lifted for it);
2. starts the simulator (``python -m simulator``, the sample tenants, the same N citizens
   subscribed, results held back so they do not compete for the CPU);
3. **BBX, timed**: ``plan_run`` (register decision, batches), then ``send_batches`` over
   the delivery slices in ``--workers`` processes (the pool ``berichtenbox`` has 4 slots):
   lock, build + validate GLOBE, ``sendMessage`` through ``BerichtenboxHook``, mark sent;
4. **baseline, timed, same run**: a plain script doing the same work without BBX code
   over a copy of the messages (``id, bsn, batch``): one SELECT per batch, the GLOBE XML
   and the SOAP envelope by string templating, a raw HTTPS POST with the same client
   certificate (``http.client``), one UPDATE per batch marking it sent; same batch
   size, same number of worker processes;
5. prints both rates, the ratio, the peak RSS of the busiest worker, and checks that
   every message is ``sent`` exactly once (the simulator's counts).

Run: ``.venv/bin/python bench/bench_send.py`` (``--messages N``, ``--workers``,
``--profile FILE`` writes a cProfile of one BBX worker, ``--json`` adds a machine line).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import queue
import resource
import subprocess
import sys
import time
import uuid
from datetime import date, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from _common import bench_workspace, emit_row, fresh_database, seed_register

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONNECTION, MESSAGE_TYPE = "voorbeeld", "PASPRT"
PER_BATCH = 1000


# ----------------------------------------------------------------------------- set-up


def start_simulator(work: Path, subscribed: list[str]):
    """The simulator with the sample tenants (no population beyond ``subscribed``)."""
    from bbx import settings
    from simulator.client import AdminClient
    from simulator.config import senders_from_tenants
    from simulator.pki import make_test_pki

    tenants = settings.PROJECT_ROOT / "config" / "sample" / "tenants.yaml"
    senders = [{**x, "population": {"size": 0}} for x in senders_from_tenants(tenants)]
    pki = make_test_pki(work / "pki", [x["oin"] for x in senders])
    # results an hour late: the bench measures sending, not the simulator's result writer
    (work / "sim.json").write_text(json.dumps({"result_delay": 3600, "register_delay": 0, "senders": senders}))
    ready = work / "sim-ready.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--config", str(work / "sim.json"), "--pki-dir", str(pki.folder),
         "--port", "0", "--ready-file", str(ready), "--log-level", "WARNING"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(work / "simulator.log", "w"))
    deadline = time.monotonic() + 60
    while not (ready.exists() and ready.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the simulator did not start; see {work / 'simulator.log'}")
        time.sleep(0.1)
    base_url = json.loads(ready.read_text())["base_url"]
    admin = AdminClient(base_url, pki.ca, pki.admin, timeout=300)
    oin = next(x["oin"] for x in senders if x["cpa_id"].startswith("cpa-gemeente-voorbeeld"))
    for start in range(0, len(subscribed), 20_000):
        admin.subscribe(oin, subscribed[start:start + 20_000], date(2020, 1, 1))
    return process, admin, pki, base_url, oin


def airflow_connection(base_url: str, pki, connection: dict) -> str:
    oin = connection["oin"].strip()
    cert = pki.clients[oin]
    return json.dumps({"conn_type": "berichtenbox", "host": base_url, "extra": {
        "cpa_id": connection["cpa_id"], "from_party_id": f"urn:osb:oin:{oin}", "client_cert": str(cert.cert),
        "client_key": str(cert.key), "ca_cert": str(pki.ca), "timeout": 300, "retries": 4}})


def hand_in(url: str, numbers: list[str]) -> int:
    from bbx.store import administration, db, handins, submissions

    with db.transaction(url) as conn:
        connection = administration.connection_by_code(conn, CONNECTION)
        conn.execute("UPDATE connections SET approval_threshold = NULL WHERE id = %s", (connection["id"],))
        found = handins.message_type(conn, connection["id"], MESSAGE_TYPE)  # with its standard-text version
        type_id = found["id"]
        sub = submissions.open_submission(conn, connection_id=connection["id"], channel="sftp",
                                          external_ref=f"bench-send-{time.time_ns()}", submitted_by="bench",
                                          message_type_id=type_id)
        submissions.add_rows(conn, sub.id, connection_code=CONNECTION, connection_id=connection["id"],
                             message_type_id=type_id,
                             standard_text_version_id=found["standard_text_version_id"],
                             rows=(submissions.NewRow(i, b) for i, b in enumerate(numbers, 1)))
        submissions.accept(conn, sub.id, rows_handed_in=len(numbers), actor="bench")
    return sub.id


# ----------------------------------------------------------------------------- workers


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _process_cpu_s(pid: int) -> float:
    """User + system CPU so far of another process of ours (the simulator), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_s() -> float:
    """User + system CPU of this worker process (all its threads): on a shared machine
    the firmer figure than wall time, since other processes stretch the latter."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _bbx_worker(jobs, results, profile: str | None) -> None:
    from bbx.delivery.send import send_batches

    sent = 0
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    while (batch_ids := jobs.get()) is not None:
        sent += send_batches(batch_ids).messages_sent
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    results.put({"sent": sent, "peak_rss_mb": _peak_rss_mb(), "cpu_s": _cpu_s()})


BATCH_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<ns1:Berichten xmlns:ns1="{ns1}" xmlns:ns2="{ns2}">'
              "<ns1:BatchInformatie><ns1:BatchID>{batch}</ns1:BatchID><ns1:AanmaakDatum>{now}</ns1:AanmaakDatum>"
              "<ns1:BerichtLeverancierID>{oin}</ns1:BerichtLeverancierID></ns1:BatchInformatie>")
BERICHT = ("<ns2:Bericht><ns2:BerichtInformatie><ns2:BatchID>{batch}</ns2:BatchID><ns2:BerichtID>{id}</ns2:BerichtID>"
           "<ns2:BerichtType>{type}</ns2:BerichtType><ns2:Onderwerp>{subject}</ns2:Onderwerp>"
           "<ns2:BerichtTekst>{text}</ns2:BerichtTekst><ns2:GebruikerID>{bsn}</ns2:GebruikerID>"
           "<ns2:SoortGebruiker>Burger</ns2:SoortGebruiker></ns2:BerichtInformatie>{bijlagen}</ns2:Bericht>\n")
BIJLAGE = ("<ns2:Bijlage><ns2:Inhoud>{content}</ns2:Inhoud><ns2:BijlageType>Pdf</ns2:BijlageType>"
           "<ns2:Omschrijving>{description}</ns2:Omschrijving><ns2:Volgorde>{order}</ns2:Volgorde></ns2:Bijlage>")
ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ebms="http://www.ordina.nl/ebms/2.18">'
            "<soapenv:Body><ebms:sendMessage><message><properties><cpaId>{cpa}</cpaId>"
            "<fromPartyId>urn:osb:oin:{oin}</fromPartyId><fromRole>SR</fromRole>"
            "<toPartyId>urn:osb:oin:00000001800866472000</toPartyId><toRole>SP</toRole>"
            "<service>urn:osb:services:MIJNOVERHEID.ebMS.BB.2.0</service><action>GLOBE-R-BV-Request</action>"
            "</properties><dataSource><name>batch.xml</name><contentType>application/xml</contentType>"
            "<content>{content}</content></dataSource></message></ebms:sendMessage></soapenv:Body>"
            "</soapenv:Envelope>")


def _baseline_worker(jobs, results, url: str, target: dict) -> None:
    """Plain: psycopg, string templates, http.client over the same mutual TLS."""
    import ssl

    import psycopg

    from simulator.globe import NS_BATCH, NS_BERICHT

    context = ssl.create_default_context(cafile=target["ca"])
    context.load_cert_chain(target["cert"], target["key"])
    host, port = target["base_url"].removeprefix("https://").rsplit(":", 1)
    https = http.client.HTTPSConnection(host, int(port), context=context, timeout=300)
    subject, text = escape(target["subject"]), escape(target["text"]).replace("\n", "&#xD;\n")
    sent = 0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET search_path TO bbx")
        # the message type's standard PDFs, base64 once (BBX sends them merged into one)
        pdfs = conn.execute(
            """SELECT sa.content, sa.description FROM message_type_attachments mta
               JOIN standard_attachments sa ON sa.id = mta.standard_attachment_id
               WHERE mta.message_type_id = %s ORDER BY mta.position""", (target["type_id"],)).fetchall()
        bijlagen = "".join(BIJLAGE.format(content=base64.b64encode(c).decode(), description=escape(d), order=n)
                           for n, (c, d) in enumerate(pdfs, 1))
        bijlagen = f"<ns2:Bijlagen>{bijlagen}</ns2:Bijlagen>" if pdfs else ""
        while (batch_numbers := jobs.get()) is not None:
            for number in batch_numbers:
                rows = conn.execute("SELECT id::text, bsn FROM bench_baseline WHERE batch = %s ORDER BY id",
                                    (number,)).fetchall()
                batch = str(uuid.uuid4())
                now = datetime.now().astimezone().isoformat(timespec="seconds")
                xml = BATCH_HEAD.format(ns1=NS_BATCH, ns2=NS_BERICHT, batch=batch, now=now, oin=target["oin"]) + "".join(
                    BERICHT.format(batch=batch, id=i, type=target["type"], subject=subject, text=text, bsn=b,
                                   bijlagen=bijlagen)
                    for i, b in rows) + "</ns1:Berichten>"
                body = ENVELOPE.format(cpa=target["cpa"], oin=target["oin"],
                                       content=base64.b64encode(xml.encode()).decode()).encode()
                https.request("POST", "/service/ebms", body=body,
                              headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
                response = https.getresponse()
                answer = response.read()
                if response.status != 200 or b"messageId" not in answer and b"sendMessageResponse" not in answer:
                    raise RuntimeError(f"baseline batch {number}: HTTP {response.status} {answer[:300]!r}")
                conn.execute("UPDATE bench_baseline SET sent = true WHERE batch = %s", (number,))
                sent += len(rows)
    results.put({"sent": sent, "peak_rss_mb": _peak_rss_mb(), "cpu_s": _cpu_s()})


def run_workers(target, args_for, items: list, workers: int) -> tuple[float, list[dict]]:
    ctx = multiprocessing.get_context("fork")
    jobs, results = ctx.Queue(), ctx.Queue()
    for item in items:
        jobs.put(item)
    for _ in range(workers):
        jobs.put(None)
    processes = [ctx.Process(target=target, args=(jobs, results, *args_for(n))) for n in range(workers)]
    started = time.perf_counter()
    for p in processes:
        p.start()
    out: list[dict] = []
    while len(out) < len(processes):
        try:
            out.append(results.get(timeout=2))
        except queue.Empty:
            if any(p.exitcode for p in processes):
                for p in processes:
                    p.kill()
                raise SystemExit("a worker failed (its traceback is above)") from None
    elapsed = time.perf_counter() - started
    for p in processes:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a worker failed (exit {p.exitcode})")
    return elapsed, out


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=400_000)
    parser.add_argument("--workers", type=int, default=4, help="send processes (the pool's 4 slots)")
    parser.add_argument("--attachments", action="store_true",
                        help="keep PASPRT's two standard PDFs (about 47 kB of base64 per message); "
                             "default: standard text only")
    parser.add_argument("--profile", metavar="FILE", help="cProfile of the first BBX worker")
    parser.add_argument("--json", action="store_true", help="print a BENCHROW line for bench/run_all.py")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)

    from bbx.domain import bsn as bsn_rules
    from bbx.store import administration, db

    work, url = bench_workspace("bbx-bench-send-", "bbx_bench_send")
    t = time.perf_counter()
    fresh_database(url)
    numbers = list(bsn_rules.generate(args.messages, seed=17))
    seed_register(url, CONNECTION, numbers)
    submission_id = hand_in(url, numbers)
    print(f"prepared {args.messages:,} subscribed messages in {time.perf_counter() - t:.1f} s (untimed)", flush=True)

    simulator = None
    try:
        simulator, admin, pki, base_url, oin = start_simulator(work, numbers)
        with db.connect(url) as conn:
            connection = administration.connection_by_code(conn, CONNECTION)
            mtype = conn.execute("SELECT id, code, subject, standard_text FROM message_types WHERE connection_id = %s "
                                 "AND code = %s", (connection["id"], MESSAGE_TYPE)).fetchone()
            # the baseline's copy of the messages: (id, bsn, batch) in an indexed table
            if not args.attachments:
                conn.execute("DELETE FROM message_type_attachments WHERE message_type_id = %s", (mtype["id"],))
            conn.execute("CREATE TABLE bench_baseline (id uuid PRIMARY KEY, bsn text, batch int, sent boolean)")
            conn.execute("""INSERT INTO bench_baseline SELECT gen_random_uuid(), bsn, (row_number - 1) / %s, false
                            FROM messages WHERE submission_id = %s""", (PER_BATCH, submission_id))
            conn.execute("CREATE INDEX ON bench_baseline (batch)")
            conn.commit()
        os.environ[f"AIRFLOW_CONN_BERICHTENBOX_{CONNECTION.upper()}"] = airflow_connection(base_url, pki, connection)
        os.environ["BBX_HOOK_BACKOFF"] = "0.2"
        before = admin.stats()["delivered"]
        sim_cpu = [_process_cpu_s(simulator.pid)]

        # baseline first: BBX then meets the larger simulator state (not in its favour)
        target = {"ca": str(pki.ca), "cert": str(pki.clients[oin].cert), "key": str(pki.clients[oin].key),
                  "base_url": base_url, "oin": oin, "cpa": connection["cpa_id"], "type": mtype["code"],
                  "subject": mtype["subject"], "text": mtype["standard_text"] or "", "type_id": mtype["id"]}
        batches = list(range(-(-args.messages // PER_BATCH)))
        slices = [batches[i:i + 10] for i in range(0, len(batches), 10)]
        base_s, base_out = run_workers(_baseline_worker, lambda n: (url, target), slices, args.workers)
        base_sent = sum(x["sent"] for x in base_out)
        after_baseline = admin.stats()["delivered"]
        sim_cpu.append(_process_cpu_s(simulator.pid))
        print(f"baseline: {base_sent:,} messages in {base_s:.1f} s ({base_sent / base_s:,.0f} msg/s)", flush=True)

        import zeep  # noqa: F401                     worker that has Airflow and BBX imported already

        from bbx.delivery.plan import plan_run
        from bbx.delivery.send import send_batches  # noqa: F401  loaded before the fork, as in a
        from bbx.hooks.berichtenbox import BerichtenboxHook

        # ... and a task runner has Airflow's connection lookup (secrets backends, masker)
        # loaded: without it each worker spent ~3 s importing it, not sending
        assert BerichtenboxHook.for_connection(CONNECTION).settings.base_url == base_url

        t0 = time.perf_counter()
        plan = plan_run(f"bench-send-{time.time_ns()}", max_map_length=1024, url=url)
        plan_s = time.perf_counter() - t0
        bbx_send_s, bbx_out = run_workers(
            _bbx_worker, lambda n: (args.profile if n == 0 else None,),
            [list(s["batch_ids"]) for s in plan["slices"]], args.workers)
        bbx_s = plan_s + bbx_send_s
        bbx_sent = sum(x["sent"] for x in bbx_out)
        with db.connect(url) as conn:
            counts = {r["outcome"]: r["n"] for r in conn.execute(
                "SELECT outcome, count(*) AS n FROM messages WHERE submission_id = %s GROUP BY outcome",
                (submission_id,))}
        stats = admin.stats()
        sim_cpu.append(_process_cpu_s(simulator.pid))
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(30)
        if not args.keep:
            db.drop_database(url)
            import shutil

            shutil.rmtree(work, ignore_errors=True)

    bbx_rate, base_rate = bbx_sent / bbx_s, base_sent / base_s
    ok = (counts.get("sent") == args.messages == bbx_sent and stats["delivered"] - after_baseline == args.messages
          and after_baseline - before == base_sent)
    rss = max(x["peak_rss_mb"] for x in bbx_out)
    bbx_cpu, base_cpu = (sum(x["cpu_s"] for x in out) / sent * 1000 for out, sent in
                         ((bbx_out, max(bbx_sent, 1)), (base_out, max(base_sent, 1))))
    print()
    kind = "standard text + 2 standard PDFs" if args.attachments else "standard text"
    print(f"sending {args.messages:,} subscribed messages ({kind}), {args.workers} worker processes, "
          f"{PER_BATCH} per batch")
    print(f"  BBX       plan {plan_s:6.1f} s + send {bbx_send_s:6.1f} s = {bbx_s:6.1f} s   {bbx_rate:>9,.0f} msg/s   "
          f"peak RSS per worker {rss:,.0f} MB")
    print(f"  baseline  {base_s:6.1f} s   {base_rate:>9,.0f} msg/s   (SELECT + string template + raw HTTPS POST)")
    print(f"  CPU of the send workers per 1,000 messages: BBX {bbx_cpu * 1000:.0f} ms, baseline "
          f"{base_cpu * 1000:.0f} ms (load average {os.getloadavg()[0]:.1f}); the simulator's for them: "
          f"{(sim_cpu[2] - sim_cpu[1]) / max(bbx_sent, 1) * 1e6:.0f} ms and "
          f"{(sim_cpu[1] - sim_cpu[0]) / max(base_sent, 1) * 1e6:.0f} ms")
    print(f"  ratio     {bbx_rate / base_rate:.0%} of the baseline's rate   target >= 10,000 msg/s: "
          f"{'MET' if bbx_rate >= 10_000 else 'NOT MET'}")
    print(f"  check: {'OK' if ok else 'MISMATCH'} (BBX: {counts}; simulator delivered {stats['delivered'] - after_baseline:,}"
          f" of BBX's, {after_baseline - before:,} of the baseline's)")
    emit_row(args.json, stage=f"sending, {args.messages:,} subscribed ({kind})", bbx=f"{bbx_rate:,.0f} msg/s",
             baseline=f"{base_rate:,.0f} msg/s", ratio=bbx_rate / base_rate, rss_mb=rss,
             target=">= 10,000 msg/s", met=bbx_rate >= 10_000 and ok, correct=ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
