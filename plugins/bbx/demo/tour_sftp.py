"""The SFTP channel of ``make tour`` (issue 18): what a tenant does with its own SFTP account
on the running demo stack — a new standard text with placeholders
(``inbox/standard-texts/<CODE>.txt``), a drop whose list fills it in (one row without a
value), a drop scheduled by ``send_at``/``publication_date`` in ``READY`` and its ``CANCEL``
marker — and the answers it reads back from ``outbox/`` (docs/drop-protocol.md §2.3, 2.6-2.8).

The scheduler does the work; the tour only triggers, through Airflow's REST API, what would
otherwise wait for its schedule: the connection's intake (a 5-minute poll) and, for the
cancelled drop, the result pass ``bbx_collect_results`` (every 10 minutes; ``bbx_deliver``
writes the result files of what it sent itself, nothing of a cancelled drop was sent).
"""

from __future__ import annotations

import csv
import io
import posixpath
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bbx.config.model import load
from bbx.demo.common import SAMPLE_CONFIG
from bbx.demo.drops import csv_bytes, makedirs, tenant_sftp, upload
from bbx.demo.tour_common import Tour, counts_rule
from bbx.domain.drop import safe_label
from bbx.domain.localtime import TIMEZONE

# A type of the sample configuration that no other part of the demo sends and that has no
# standard text of its own (config/sample/tenants.yaml): the tour's versions change nothing else.
CONNECTION, TYPE = "voorbeeld", "WOZ2026"
TEMPLATE = ("Beste ((naam)),\n\nDe WOZ-waarde van uw woning voor 2026 is ((waarde)).((heeft_partner??\n"
            "Uw partner krijgt een eigen brief.))\n\nMet vriendelijke groet,\nGemeente Voorbeeld")
COLUMNS = ["bsn", "((naam))", "((waarde))", "((heeft_partner))"]


def sftp_channel(tour: Tour, api_key: Callable[[str], str], timeout: float = 240) -> None:
    """The three SFTP checks of issue 18 (module docstring); one ``tour.check`` line each."""
    tenant, connection = _sample_connection()
    home = connection.sftp_folder.removeprefix(f"/{tenant}")  # the tenant's chroot starts at its folder
    subscribed = tour.citizens(connection.code, connection.oin, "active", 5)
    never = tour.citizens(connection.code, connection.oin, "never", 1)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    filled, later = f"tour-sjabloon-{stamp}", f"tour-later-{stamp}"
    api = tour.stack.api()

    # 1. the standard text as a file (uploaded under another name, renamed when complete)
    with tenant_sftp(tour.stack, tenant) as sftp:
        makedirs(sftp, f"{home}/inbox/standard-texts")
        versions_before = set(_outbox(sftp, home))
        part = f"{home}/inbox/standard-texts/{TYPE}.txt.part"
        with sftp.open(part, "wb") as handle:
            handle.write(TEMPLATE.encode())
        sftp.rename(part, f"{home}/inbox/standard-texts/{TYPE}.txt")
    # 2. a drop filling it in: two subscribed, one not subscribed, one without ((naam))
    rows = [[subscribed[0], "mevrouw J. de Vries", "€ 312.000", "ja"],
            [subscribed[1], "de heer P. Bakker", "€ 287.500", "nee"],
            [never[0], "mevrouw S. Yilmaz", "€ 401.000", "nee"],
            [subscribed[2], "", "€ 265.000", "ja"]]
    upload(tour.stack, tenant, f"{home}/inbox/{filled}", [
        ("file", "woz.csv", csv_bytes(rows, COLUMNS)),
        ("file", "READY", f"message_type: {TYPE}\ndrop_id: {filled}\n".encode())])
    # 3. a drop for later: READY's send_at is Dutch time; the publication day after it
    send_at = (datetime.now(TIMEZONE) + timedelta(minutes=30)).replace(second=0, microsecond=0)
    publication = send_at.date() + timedelta(days=2)
    upload(tour.stack, tenant, f"{home}/inbox/{later}", [
        ("file", "woz.csv", csv_bytes([[b, "de heer K. Jansen", "€ 199.000", "nee"] for b in subscribed[3:5]],
                                      COLUMNS)),
        ("file", "READY", f"message_type: {TYPE}\ndrop_id: {later}\nsend_at: {send_at:%Y-%m-%d %H:%M}\n"
                          f"publication_date: {publication.isoformat()}\n".encode())])
    state = _ingest(api, connection.code, timeout)

    with tenant_sftp(tour.stack, tenant) as sftp:
        new = sorted(n for n in set(_outbox(sftp, home)) - versions_before
                     if n.startswith(f"standard-texts.{TYPE}.v") and n.endswith(".txt"))
        version = int(new[-1].removeprefix(f"standard-texts.{TYPE}.v").removesuffix(".txt")) if new else None
        answer = _read(sftp, home, new[-1]).decode("utf-8") if new else ""
        tour.check("standard text file / SFTP", version is not None and "((naam))" in answer,
                   f"bbx_ingest__{connection.code} {state}; outbox/{new[-1] if new else '(no answer)'}")
        ack = _ack(sftp, home, later)
    key = api_key(tenant)
    with tour.http() as client:
        client.headers["Authorization"] = f"Bearer {key}"
        status = tour.status(client, ack["submission"]) if ack else {}
    stage = (status.get("progress") or {}).get("stage")
    tour.check("schedule / SFTP", bool(ack) and ack["status"] == "accepted" and bool(ack["send_at"])
               and ack["publication_date"] == publication.isoformat() and stage == "scheduled",
               f"submission {ack.get('submission')}: ack send_at {ack.get('send_at')}, publication_date "
               f"{ack.get('publication_date')}; API stage {stage}, sent {status.get('counts', {}).get('sent')}")

    # the CANCEL marker, directly in inbox/, naming the scheduled drop's submission
    cancelled_sid = ack.get("submission")
    with tenant_sftp(tour.stack, tenant) as sftp:
        with sftp.open(f"{home}/inbox/{later}.cancel", "wb") as handle:
            handle.write(f"submission: {cancelled_sid}\n".encode())
    state = _ingest(api, connection.code, timeout)
    api.wait_for_run("bbx_collect_results", api.trigger("bbx_collect_results"), timeout)
    with tenant_sftp(tour.stack, tenant) as sftp:
        answer = _json(sftp, home, f"{later}.cancel.s{cancelled_sid}.cancel.json")
        results = _wait_results(sftp, home, later, cancelled_sid, 30)
    outcomes = Counter(r["outcome"] for r in results)
    box = tour.stack.admin()
    reached = sum(len(box.box(b)) for b in subscribed[3:5])
    box.close()
    tour.check("cancel marker / SFTP", answer.get("cancelled") == 2 and answer.get("closed") and outcomes == {"cancelled": 2}
               and counts_rule(outcomes, ack.get("rows", {}).get("handed_in")) and reached == 0,
               f"submission {cancelled_sid}: bbx_ingest {state}; cancel.json cancelled {answer.get('cancelled')}, "
               f"closed {answer.get('closed')}; result file {dict(outcomes)}; letters in the simulator: {reached}")

    # the filled-in drop: the rejected row names the placeholder, the others went out with the version
    with tenant_sftp(tour.stack, tenant) as sftp:
        ack = _ack(sftp, home, filled)
        results = _wait_results(sftp, home, filled, ack.get("submission"), timeout) if ack else []
    outcomes = Counter(r["outcome"] for r in results)
    rejected = [r for r in results if r["outcome"] == "rejected"]
    tour.check("template values / SFTP", outcomes == {"delivered": 2, "not_subscribed": 1, "rejected": 1}
               and bool(ack) and counts_rule(outcomes, ack.get("rows", {}).get("handed_in"))
               and len(rejected) == 1 and "((naam))" in rejected[0]["reason"],
               f"submission {ack.get('submission')}: result file {dict(outcomes)} of {len(results)} rows; "
               f"rejected: {rejected[0]['reason'][:60] if rejected else '-'!r}")
    used_versions = {r["version"] for r in results if r["outcome"] != "rejected"}
    tour.check("standard text version / SFTP", bool(results) and used_versions == {str(version)},
               f"version {version}; standard_text_version in the result file: {sorted(used_versions)}")


def _sample_connection():
    for tenant in load(SAMPLE_CONFIG).tenants:
        for connection in tenant.connections:
            if connection.code == CONNECTION:
                return tenant.code, connection
    raise LookupError(f"{SAMPLE_CONFIG}: no connection {CONNECTION}")


def _ingest(api, connection_code: str, timeout: float) -> str:
    """The connection's intake now, run by the scheduler, instead of at its next poll."""
    dag_id = f"bbx_ingest__{connection_code}"
    return api.wait_for_run(dag_id, api.trigger(dag_id), timeout)


def _outbox(sftp, home: str) -> list[str]:
    return sftp.listdir(f"{home}/outbox")


def _read(sftp, home: str, name: str) -> bytes:
    with sftp.open(posixpath.join(home, "outbox", name), "rb") as handle:
        return handle.read()


def _json(sftp, home: str, name: str) -> dict:
    import json

    return json.loads(_read(sftp, home, name)) if name in _outbox(sftp, home) else {}


def _ack(sftp, home: str, drop: str) -> dict:
    """The drop's acknowledgement (``<drop>.s<N>.ack.json``), or {}."""
    names = [n for n in _outbox(sftp, home) if n.startswith(f"{safe_label(drop)}.s") and n.endswith(".ack.json")]
    return _json(sftp, home, names[0]) if names else {}


def _wait_results(sftp, home: str, drop: str, submission: int | None, timeout: float) -> list[dict]:
    """The rows of ``<drop>.s<N>.results.csv`` once BBX wrote it (every row final)."""
    name = f"{safe_label(drop)}.s{submission}.results.csv"
    deadline = time.monotonic() + timeout
    while name not in _outbox(sftp, home):
        if time.monotonic() > deadline:
            return []
        time.sleep(2)
    # columns as docs/delivery.md: row, bsn, result, outcome, code, explanation, message_id, final_at, version
    lines = list(csv.reader(io.StringIO(_read(sftp, home, name).decode("utf-8-sig")), delimiter=";"))
    return [{"outcome": r[3], "reason": r[5], "version": r[-1]} for r in lines[1:]]
