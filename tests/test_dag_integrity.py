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


def test_tasks_that_talk_to_the_adapter_run_on_the_berichtenbox_queue(dagbag):
    """On the CeleryExecutor sending capacity is added by workers on this queue (bbx.stack,
    docker-compose.yaml); a mapped task gets its queue from ``.partial()``, not from the
    operator's constructor, so each DAG must say it."""
    from airflow.configuration import conf

    from bbx.delivery import config
    from bbx.operators.berichtenbox import BerichtenboxOperator, BerichtenboxResultsOperator

    default_queue = conf.get("operators", "default_queue")
    problems, adapter_tasks = [], 0
    for dag_id, dag in dagbag.dags.items():
        for t in dag.tasks:
            talks = issubclass(getattr(t, "operator_class", type(t)), (BerichtenboxOperator,
                                                                        BerichtenboxResultsOperator))
            adapter_tasks += talks
            wanted = config.QUEUE if talks else default_queue
            if t.queue != wanted:
                problems.append(f"{dag_id}.{t.task_id}: queue {t.queue!r}, expected {wanted!r}")
    assert adapter_tasks >= 6 and problems == []
