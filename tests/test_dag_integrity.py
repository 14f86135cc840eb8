"""Every DAG file imports cleanly and every DAG is documented, tagged, owned and retried."""

from pathlib import Path

import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture
def dagbag(db, sample_config_path):
    """Parse the DAG folder against a database holding the sample configuration
    (per-connection DAGs are generated from it)."""
    from airflow.dag_processing.dagbag import DagBag

    from bbx.config.model import load
    from bbx.store import administration

    administration.apply_config(db, load(sample_config_path), actor="test")
    db.commit()
    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    dag_files = {p for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith("_")}
    files_with_dags = {Path(dag.fileloc) for dag in dagbag.dags.values()}
    assert dag_files <= files_with_dags, f"DAG files that define no DAG: {dag_files - files_with_dags}"


def test_every_dag_has_docs_tags_owner_and_retries(dagbag):
    problems = []
    for dag_id, dag in dagbag.dags.items():
        if not dag.doc_md or len(dag.doc_md.strip()) < 40:
            problems.append(f"{dag_id}: doc_md missing or too short")
        if not dag.tags or "bbx" not in dag.tags:
            problems.append(f"{dag_id}: needs tags including 'bbx'")
        for t in dag.tasks:
            if t.owner in (None, "", "airflow"):
                problems.append(f"{dag_id}.{t.task_id}: set an owner")
            if t.retries is None or t.retries < 1:
                problems.append(f"{dag_id}.{t.task_id}: needs retries >= 1")
    assert problems == []
