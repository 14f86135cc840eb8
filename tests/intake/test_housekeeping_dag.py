"""bbx_intake_housekeeping in a real Airflow run (dag.test): the content purge runs next
to the folder housekeeping (issue 10 item 4)."""

from pathlib import Path

import pytest
from intake_helpers import run_intake

from bbx.domain import bsn
from bbx.store import submissions

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "bbx_ingest.py"


@pytest.mark.slow
def test_housekeeping_run_purges_content_past_retention(tenant, configured, airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    db = configured
    targets = list(bsn.generate(2, seed=61))
    tenant.upload_drop("oud", {"teksten.csv": "".join(f"{b};persoonlijke tekst\r\n" for b in targets).encode()},
                       marker_content=b"message_type: WOZ2026\n")
    [result] = run_intake()
    sid = result["submission_id"]
    db.execute("""UPDATE messages SET outcome = 'not_subscribed', outcome_reason = 'not in the register',
                  final_at = now() WHERE submission_id = %s""", (sid,))
    assert submissions.close_if_reconciled(db, sid, actor="test")
    db.execute("UPDATE submissions SET closed_at = now() - interval '91 days' WHERE id = %s", (sid,))
    db.commit()

    bag = DagBag(dag_folder=str(DAG_FILE))
    dag = bag.dags["bbx_intake_housekeeping"]
    assert {t.task_id for t in dag.tasks} == {"tidy_folders", "purge_content"}
    run = dag.test()
    assert run.state == "success"
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"tidy_folders": "success",
                                                                         "purge_content": "success"}
    db.rollback()
    rows = db.execute("SELECT text_encrypted, purged_at FROM messages WHERE submission_id = %s", (sid,)).fetchall()
    assert len(rows) == 2 and all(r["text_encrypted"] is None and r["purged_at"] for r in rows)
    audit = db.execute("SELECT details FROM audit_log WHERE action = 'content.purged'").fetchone()
    assert audit["details"]["texts"] == 2
