"""The bbx_ingest__<connection> DAGs: generated from the database, and one real run (dag.test)."""

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from intake_helpers import CONNECTION, pdf

from bbx.domain import bsn

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "bbx_ingest.py"
B = list(bsn.generate(10, seed=31))


def parse():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag


def test_one_documented_dag_per_active_connection(configured):
    configured.execute("UPDATE connections SET active = false WHERE code = 'pf_zorg'")
    configured.commit()
    bag = parse()
    assert sorted(bag.dags) == ["bbx_ingest__pf_metaal", "bbx_ingest__voorbeeld", "bbx_intake_housekeeping"]
    dag = bag.dags["bbx_ingest__voorbeeld"]
    assert dag.tags >= {"bbx", "intake", "sftp", "gemeente-voorbeeld"}
    assert "bbx_ingest__voorbeeld" in dag.doc_md and "receive_drop" in dag.doc_md
    assert dag.max_active_runs == 1 and not dag.catchup
    assert dag.timetable.delta == timedelta(minutes=5)  # polls every few minutes
    assert {t.task_id for t in dag.tasks} == {"find_drops", "receive_drop", "validate_drop", "acknowledge_drop",
                                              "announce_accepted", "watch_failures"}
    for each in bag.dags.values():
        for t in each.tasks:
            assert t.owner == "bbx" and t.retries >= 1, (each.dag_id, t.task_id)
    mapped = dag.get_task("receive_drop")
    assert mapped.map_index_template == "{{ drop_label }}"
    assert [o.uri for o in dag.get_task("announce_accepted").outlets] == ["bbx://submissions/accepted"]


def test_no_database_no_ingest_dags_and_one_clear_warning(monkeypatch, caplog):
    from bbx import settings

    monkeypatch.setenv("BBX_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    settings.database_url.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="bbx.intake.dags"):
            bag = parse()
    finally:
        settings.database_url.cache_clear()
    assert sorted(bag.dags) == ["bbx_intake_housekeeping"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "bbx.intake.dags"]
    assert len(warnings) == 1
    assert warnings[0].startswith("bbx_ingest: no ingest DAGs generated, BBX's database could not be read (")


@pytest.mark.slow
def test_one_dag_run_end_to_end(tenant, configured, airflow_db):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    tenant.upload_drop("paspoort", {"bsns.csv": "\n".join(B[:3]).encode(), f"{B[0]}_1.pdf": pdf()},
                       marker_content=b"message_type: PASPRT\npdfs_per_bsn: 0-1\n")
    tenant.upload_drop("kapot", {"bsns.csv": B[4].encode(), "x.docx": b"PK"})
    dag = parse().dags[f"bbx_ingest__{CONNECTION}"]

    run = dag.test()
    assert run.state == "success"
    tis = {(ti.task_id, ti.rendered_map_index): ti.state for ti in run.get_task_instances()}
    assert tis == {
        ("find_drops", None): "success",
        ("receive_drop", "kapot"): "success", ("receive_drop", "paspoort"): "success",
        ("validate_drop", "kapot"): "success", ("validate_drop", "paspoort"): "success",
        ("acknowledge_drop", "kapot"): "success", ("acknowledge_drop", "paspoort"): "success",
        ("announce_accepted", None): "success", ("watch_failures", None): "skipped",
    }
    accepted = configured.execute(
        "SELECT s.id, s.status, count(m.*) FILTER (WHERE m.outcome = 'planned') AS planned FROM submissions s"
        " LEFT JOIN messages m ON m.submission_id = s.id GROUP BY s.id ORDER BY s.id").fetchall()
    assert sorted((r["status"], r["planned"]) for r in accepted) == [("accepted", 3), ("rejected", 0)]
    accepted_id = next(r["id"] for r in accepted if r["status"] == "accepted")
    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_dag_id == dag.dag_id).all()
        assert [e.extra for e in events] == [{"connection": CONNECTION, "submission_ids": [accepted_id]}]
    outbox = tenant.listdir("/voorbeeld/outbox")
    assert {n.split(".s")[0] for n in outbox} == {"paspoort", "kapot"}
    assert tenant.listdir("/voorbeeld/inbox") == [] and len(tenant.listdir("/voorbeeld/archive")) == 2

    # the next poll finds nothing: the mapped tasks and the announcement are skipped
    quiet = dag.test()
    assert quiet.state == "success"
    states = {ti.task_id: ti.state for ti in quiet.get_task_instances()}
    assert states["find_drops"] == "success"
    assert {states[t] for t in ("receive_drop", "validate_drop", "acknowledge_drop", "announce_accepted",
                                "watch_failures")} == {"skipped"}
    with create_session() as session:
        assert session.query(AssetEvent).filter(AssetEvent.source_dag_id == dag.dag_id).count() == 1


@pytest.mark.slow
def test_sftp_outage_turns_the_run_red(sftp_server, configured, airflow_db, monkeypatch):
    """The SFTP server is down: find_drops fails after its retries, the drop tasks are
    upstream-failed, announce_accepted still runs (all_done) and ends skipped: the run must
    be failed, not success (it used to be green)."""
    monkeypatch.setenv("BBX_SFTP_CONNECT_ATTEMPTS", "1")
    sftp_server.stop()  # a real server, now down: its port refuses connections
    dag = parse().dags[f"bbx_ingest__{CONNECTION}"]
    for t in dag.tasks:
        t.retry_delay = timedelta(0)  # the retries happen, without waiting a minute each

    run = dag.test()
    assert run.state == "failed"
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert tis["find_drops"].state == "failed" and tis["find_drops"].try_number == 3  # retried, then red
    assert {tis[t].state for t in ("receive_drop", "validate_drop", "acknowledge_drop")} == {"upstream_failed"}
    assert tis["announce_accepted"].state == "skipped"
    assert tis["watch_failures"].state == "failed"
