"""``TriggerRunOperator`` — start one run of another DAG, importing the trigger code late.

Every task process of a DAG parses its DAG file; importing
``airflow.providers.standard.operators.trigger_dagrun`` there costs ~0.8 s of CPU (it loads
the SQLAlchemy models for Airflow 2's path) in every task, although only the trigger task
needs it. This operator takes the same arguments and hands over to
``TriggerDagRunOperator`` inside ``execute``: the trigger itself is Airflow's (on Airflow 3
the task runner creates the run; ``skip_when_already_exists`` marks the task skipped).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator


class TriggerRunOperator(BaseOperator):
    template_fields = ("trigger_dag_id", "trigger_run_id", "conf")
    ui_color = "#ffefeb"

    def __init__(self, *, trigger_dag_id: str, trigger_run_id: str | None = None, conf: dict | None = None,
                 skip_when_already_exists: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        self.skip_when_already_exists = skip_when_already_exists

    def execute(self, context) -> Any:
        from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

        return TriggerDagRunOperator(
            task_id=self.task_id, trigger_dag_id=self.trigger_dag_id, trigger_run_id=self.trigger_run_id,
            conf=self.conf, skip_when_already_exists=self.skip_when_already_exists,
        ).execute(context)
