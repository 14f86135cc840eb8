"""Task bodies of ``bbx_register_refresh``: read the Airflow context, call the shell,
turn "cannot succeed by retrying" into a failure without retries.

Kept out of the DAG file so that it stays wiring only; imported inside the tasks.
"""

from __future__ import annotations

from datetime import date

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from bbx.domain import register as rules
from bbx.register import refresh


def _day_and_label(connection: dict) -> date:
    """The register day of this run; also names the mapped task instance in the UI."""
    context = get_current_context()
    context["connection_code"] = connection["code"]  # rendered by map_index_template
    dag_run = context["dag_run"]
    return rules.register_day(context.get("logical_date"), getattr(dag_run, "run_after", None))


def active_connections() -> list[dict]:
    """The connections to refresh: every active one, or those named in params."""
    from bbx.store import administration, db

    wanted = list(get_current_context()["params"].get("connections") or [])
    with db.connect() as conn:
        connections = administration.active_connections(conn)
    known = {c["code"] for c in connections}
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise AirflowFailException(
            f"unknown or inactive connection(s) in params.connections: {', '.join(unknown)} "
            f"(active: {', '.join(sorted(known)) or 'none'})"
        )
    return [
        {"code": c["code"], "id": c["id"], "register_export": c["register_export"]}
        for c in connections if not wanted or c["code"] in wanted
    ]


def request_list(connection: dict) -> dict:
    day = _day_and_label(connection)
    full = bool(get_current_context()["params"].get("full"))
    try:
        return refresh.request_refresh(connection["code"], day, force_full=full).as_dict()
    except refresh.RefreshFailed as exc:
        raise AirflowFailException(str(exc)) from None


def answer_ready(connection: dict):
    from airflow.sdk import PokeReturnValue

    day = _day_and_label(connection)
    try:
        done = refresh.answer_ready(connection["code"], day)
    except refresh.RefreshFailed as exc:
        raise AirflowFailException(str(exc)) from None
    return PokeReturnValue(is_done=done, xcom_value=refresh.refresh_state(connection["code"], day).as_dict())


def apply_answer(connection: dict) -> dict:
    day = _day_and_label(connection)
    try:
        return refresh.apply_refresh(connection["code"], day).as_dict()
    except refresh.RefreshFailed as exc:
        raise AirflowFailException(str(exc)) from None


def export_register(connection: dict) -> dict:
    from bbx.register.export import export_register as export

    day = _day_and_label(connection)
    if not connection.get("register_export"):
        raise AirflowSkipException(f"connection {connection['code']} does not ask for a register export")
    return export(connection["code"], day)


def check_fresh(connection: dict) -> dict:
    _day_and_label(connection)
    result = refresh.check_fresh(connection["code"])
    if result["blocked"]:
        raise AirflowFailException(result["blocked"])
    return result
