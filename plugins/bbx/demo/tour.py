"""``make tour`` (``python -m bbx.demo.tour``): issue 18's features checked on the RUNNING
demo stack (after ``make demo``), as a tenant and an operator would use them — HTTP calls
to the web service with an API key made by the ``bbx`` CLI, the ``bbx`` CLI itself — with
the scheduler doing the rest (no ``dag.test``, no direct calls of the pipeline).

One line per feature × channel with what was observed; exit 0 when all pass, 1 otherwise
(naming what failed), 2 when no demo stack runs. It covers the web service and the CLI
here (the parts share ``tour_common``), fill-in templates and standard texts in ``tour_templates``, the manual page in
``tour_manual``, the SFTP channel in ``tour_sftp`` and status callbacks in
``tour_callbacks`` (see docs/operations.md, *The tour*).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from bbx.demo import tour_callbacks, tour_manual, tour_templates
from bbx.demo.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from bbx.demo.drops import letter_pdf
from bbx.demo.tour_common import CONNECTION, OIN, TENANT, TYPE, Tour, counts_rule, send
from bbx.demo.tour_sftp import sftp_channel
from bbx.stack import Stack, default_state_dir


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bbx.cli", *args], capture_output=True, text=True,
                          env={**os.environ})


def _api_key(tenant: str) -> str:
    made = _cli("api-key", "create", "--tenant", tenant, "--name", f"tour {datetime.now(UTC):%H:%M:%S}", "--days", "1")
    if made.returncode != 0:
        raise RuntimeError(f"bbx api-key create failed: {made.stdout}{made.stderr}")
    return next(line.strip() for line in made.stdout.splitlines() if line.strip().startswith("bbx_"))


def personal_letters(tour: Tour, client, subscribed: list[str], never: list[str]) -> int:
    """Personal texts and a PDF through the web service (multipart, docs/api.md)."""
    bsns = subscribed[:2] + never[:1]
    body = {"message_type": TYPE, "messages": [
        {"bsn": b, "text": f"Beste deelnemer,\nuw persoonlijke brief {i + 1}.", "subject": "Uw pensioenbrief",
         "reference": f"TOUR-{i + 1}"} for i, b in enumerate(bsns)]}
    pdf = {f"{bsns[0]}_1.pdf": letter_pdf("Pensioenbrief", "Een persoonlijke bijlage.")}
    preview = client.post(f"/connections/{CONNECTION}/messages/preview", params={"row": 1},
                          data={"request": json.dumps(body)},
                          files=[("attachments", (n, c, "application/pdf")) for n, c in pdf.items()])
    ok = preview.status_code == 200 and "persoonlijke brief 1" in preview.json().get("text", "")
    tour.check("dry run / web service", ok, f"HTTP {preview.status_code}, row 1 text "
               f"{preview.json().get('text', '')[:40]!r}, pdfs {preview.json().get('attachments')}")
    sent = send(client, body, pdf)
    return sent["id"]


def scheduled(client, bsns: list[str], minutes: int) -> dict:
    send_at = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat(timespec="seconds")
    return send(client, {"message_type": TYPE, "text": "Een brief die later gaat.", "bsns": bsns,
                          "send_at": send_at})


def scheduled_went_out(tour: Tour, client, due: dict, timeout: float) -> None:
    """A send scheduled a minute ahead at the tour's start: by now the scheduler started it
    at its moment (the triggerer's watcher, not the 5-minute timer) and it closed delivered,
    with no message sent before send_at."""
    status = tour.wait_closed(client, due["id"], timeout)
    rows = client.get(f"/submissions/{due['id']}/messages").raise_for_status().json()["rows"]
    send_at = datetime.fromisoformat(due["send_at"])
    sent = sorted(datetime.fromisoformat(r["sent_at"]) for r in rows if r["sent_at"])
    early = [t for t in sent if t < send_at]
    went = f"first sent {sent[0]:%H:%M:%S} ({(sent[0] - send_at).total_seconds():.0f} s after)" if sent else "none sent"
    tour.check("scheduled send went out / web service",
               status["status"] == "closed" and status["counts"]["delivered"] == 2 and len(sent) == 2
               and not early and counts_rule(status["counts"], status["rows_handed_in"]),
               f"submission {due['id']}: {status['status']}, delivered {status['counts']['delivered']}, "
               f"send_at {send_at:%H:%M:%S}, {went}, before send_at {len(early)}")


def run(timeout: float = 240) -> int:
    stack = Stack.load(default_state_dir())
    if stack is None or not stack.running():
        print("no running demo stack: run `make demo` first (same BBX_API_PORT)", file=sys.stderr)
        return EXIT_USAGE
    os.environ.setdefault("BBX_DATABASE_URL", stack.bbx_url)
    begin = time.monotonic()
    tour = Tour(stack, _api_key(TENANT))
    subscribed, never = tour.citizens(CONNECTION, OIN, "active", 6), tour.citizens(CONNECTION, OIN, "never", 2)
    with tour.http() as client:
        due = scheduled(client, tour.citizens(CONNECTION, OIN, "active", 2), minutes=1)  # waited for at the end
        personal = personal_letters(tour, client, subscribed, never)
        tour_templates.run(tour, client)
        tour_manual.run(tour, client, timeout)
        by_api, by_cli = scheduled(client, subscribed[2:4], 20), scheduled(client, subscribed[4:6], 20)
        for name, sub in (("schedule / web service", by_api), ("schedule / web service (2)", by_cli)):
            tour.check(name, sub["progress"]["stage"] == "scheduled" and sub["counts"]["sent"] == 0,
                       f"submission {sub['id']}: stage {sub['progress']['stage']}, send_at {sub['send_at']}, "
                       f"sent {sub['counts']['sent']}")
        answer = client.post(f"/submissions/{by_api['id']}/cancel").raise_for_status().json()
        tour.check("cancel / web service", answer["cancelled"] == 2 and answer["status"]["status"] == "closed"
                   and counts_rule(answer["status"]["counts"], answer["status"]["rows_handed_in"]),
                   f"submission {by_api['id']}: cancelled {answer['cancelled']}, closed {answer['closed']}")
        cli = _cli("submissions", "cancel", str(by_cli["id"]), "--by", "tour")
        after = tour.status(client, by_cli["id"])
        tour.check("cancel / bbx CLI", cli.returncode == 0 and after["counts"]["cancelled"] == 2
                   and after["status"] == "closed" and counts_rule(after["counts"], after["rows_handed_in"]),
                   f"submission {by_cli['id']}: exit {cli.returncode}, cancelled {after['counts']['cancelled']}, "
                   f"status {after['status']}")
        box = stack.admin()
        reached = sum(len(box.box(b)) for b in subscribed[2:6])
        box.close()
        tour.check("cancel: nothing reached simulator", reached == 0,
                   f"letters in the simulator's boxes of the 4 cancelled citizens: {reached}")
        status = tour.wait_closed(client, personal, timeout)
        c = status["counts"]
        tour.check("personal letters / web service", status["status"] == "closed" and c["delivered"] == 2
                   and c["not_subscribed"] == 1 and counts_rule(status["counts"], status["rows_handed_in"]),
                   f"submission {personal}: {status['status']}, delivered {c['delivered']}, "
                   f"not subscribed {c['not_subscribed']}, failed {c['failed']}")
        p = status["progress"]
        tour.check("progress / web service", p["stage"] == "done" and p["final"] == 3 and p["percent"] == 100,
                   f"submission {personal}: stage {p['stage']}, handed in {p['handed_in']}, "
                   f"in batches {p['in_batches']}, acknowledged {p['acknowledged']}, final {p['final']}")
    sftp_channel(tour, _api_key, timeout)
    tour_callbacks.check(tour)
    with tour.http() as client:
        scheduled_went_out(tour, client, due, timeout)
    failed = [name for name, ok, _ in tour.results if not ok]
    print(f"tour: {len(tour.results) - len(failed)} of {len(tour.results)} passed in "
          f"{time.monotonic() - begin:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(run())
