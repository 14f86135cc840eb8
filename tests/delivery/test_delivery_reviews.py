"""Held submissions and four-eyes approval through Airflow's human-in-the-loop:
bbx_deliver stays green and asks once; a bbx_review run waits in ``awaiting_input``
under Required actions; the answer is given the way Airflow's HITL API gives it (same
model fields, same ``handle_event_submit``) and recorded with the person's name.

Real Airflow (``dag.test()``), real PostgreSQL, the simulator over mTLS."""

from __future__ import annotations

import threading
import time

import pytest
from delivery_helpers import bsns, deliver, rows_for
from test_delivery_dags import _dag, _states


@pytest.fixture
def short_waits(monkeypatch):
    monkeypatch.setenv("BBX_HOOK_BACKOFF", "0.01")


def _respond(option: str, user: str, errors: list, *, dag_id: str = "bbx_review", timeout: float = 60.0) -> None:
    """Answer the waiting HITL request as ``user`` — what PATCH .../hitlDetails does
    (``airflow.api_fastapi.core_api.routes.public.hitl.update_hitl_detail``). On any
    problem the waiting task is failed, so that ``dag.test()`` ends instead of waiting."""
    from airflow._shared.timezones import timezone
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import handle_event_submit
    from airflow.triggers.base import TriggerEvent
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    waiting = (select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.task_id == "decide",
                                          TaskInstance.state == TaskInstanceState.AWAITING_INPUT))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with create_session() as session:
                ti = session.scalar(waiting)
                detail = ti and session.scalar(select(HITLDetail).where(HITLDetail.ti_id == ti.id))
                if detail is not None:
                    assert detail.options == ["Approve", "Reject"] and detail.subject
                    detail.responded_by = {"id": user, "name": user}
                    detail.responded_at = timezone.utcnow()
                    detail.chosen_options = [option]
                    detail.params_input = {}
                    session.add(detail)
                    handle_event_submit(TriggerEvent(detail.as_resume_event_payload()), task_instance=ti,
                                        session=session)
                answered = ti.id if detail is not None else None
            if answered is not None:
                # An answer that lands while dag.test() is still recording the deferral is
                # overwritten (the task stays awaiting_input): answer again until it moves on.
                if _moved_on(answered, deadline=time.monotonic() + 2.0):
                    return
                continue
            time.sleep(0.2)
        raise AssertionError("no HITL request waited for an answer")
    except BaseException as exc:
        errors.append(exc)
        with create_session() as session:
            for ti in session.scalars(waiting):
                ti.state = TaskInstanceState.FAILED


def _moved_on(ti_id, *, deadline: float) -> bool:
    """Whether task instance ``ti_id`` left awaiting_input before ``deadline``."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    while time.monotonic() < deadline:
        with create_session() as session:
            if session.get(TaskInstance, ti_id).state != TaskInstanceState.AWAITING_INPUT:
                return True
        time.sleep(0.1)
    return False


def _review(conf: dict, option: str, user: str):
    """Run bbx_review for one request while a person answers it."""
    errors: list = []
    answer = threading.Thread(target=_respond, args=(option, user, errors), daemon=True)
    answer.start()
    run = _dag("bbx_review").test(run_conf=conf)
    answer.join(timeout=5)
    assert errors == []
    return run


def _triggered_reviews() -> list[tuple[str, dict]]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == "bbx_review",
                                                    DagRun.run_id.like("review__%"))).all()
        return [(r.run_id, dict(r.conf or {})) for r in runs]


def _reviews(world, sid: int) -> list[dict]:
    rows = world.db.execute("SELECT kind, decision, decided_by FROM submission_reviews WHERE submission_id = %s"
                            " ORDER BY id", (sid,)).fetchall()
    world.db.commit()
    return rows


def _audit(world, sid: int, action: str) -> list[str]:
    rows = world.db.execute("SELECT actor FROM audit_log WHERE submission_id = %s AND action = %s ORDER BY id",
                            (sid, action)).fetchall()
    world.db.commit()
    return [r["actor"] for r in rows]


def test_stale_register_hold_is_asked_once_and_approved_in_required_actions(world, airflow_db, short_waits):
    c = world.connections["voorbeeld"]
    numbers = bsns(3, seed=131)
    world.subscribe("voorbeeld", numbers)
    world.db.execute("UPDATE register_refreshes SET applied_at = now() - interval '5 days' WHERE connection_id = %s",
                     (c.id,))
    world.db.commit()
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers), external_ref="stale-drop")

    first = _dag("bbx_deliver").test()
    assert first.state == "success", _states(first)  # a hold is not a red run
    assert _states(first)["request_review"] == ["success"]
    (run_id, conf), = [(r, c_) for r, c_ in _triggered_reviews() if c_.get("submission_id") == sid]
    assert run_id == f"review__{conf['review_id']}" and conf["kind"] == "stale_register"
    assert "is stale" in conf["body"]

    second = _dag("bbx_deliver").test()
    assert second.state == "success", _states(second)
    assert _states(second)["request_review"] == ["skipped"]  # nothing new to ask
    assert len([1 for _, c_ in _triggered_reviews() if c_.get("submission_id") == sid]) == 1
    assert world.status(sid) == "accepted"

    review = _review(conf, "Approve", "alice")
    assert review.state == "success", _states(review)
    assert _reviews(world, sid) == [{"kind": "stale_register", "decision": "approved", "decided_by": "alice"}]
    assert _audit(world, sid, "delivery.review_approved") == ["alice"]

    sent = _dag("bbx_deliver").test()
    assert sent.state == "success", _states(sent)
    assert world.status(sid) == "closed" and world.counts(sid)["delivered"] == 3


def test_four_eyes_refuses_the_submitter_and_records_a_rejection(world, airflow_db, short_waits):
    from bbx.delivery import plan

    numbers = bsns(5, seed=132)
    world.subscribe("pf_metaal", numbers)
    world.db.execute("UPDATE connections SET approval_threshold = 4 WHERE code = 'pf_metaal'")
    world.db.commit()
    sid = world.submit("pf_metaal", "UPO2026", rows_for(numbers), channel="manual", submitted_by="airflow:bob")

    planned = plan.plan_run("run-four-eyes-1", max_map_length=1024, url=world.url)
    assert planned["submissions"] == []
    (request,) = planned["reviews"]
    assert request["conf"]["kind"] == "four_eyes" and "not airflow:bob" in request["conf"]["body"]

    own = _review(request["conf"], "Approve", "bob")  # the submitter approves his own send
    assert own.state == "failed"
    assert _reviews(world, sid) == [{"kind": "four_eyes", "decision": "withdrawn", "decided_by": "bob"}]
    assert world.status(sid) == "accepted"

    again = plan.plan_run("run-four-eyes-2", max_map_length=1024, url=world.url)
    (request,) = again["reviews"]  # a new request for a second person
    rejected = _review(request["conf"], "Reject", "carol")
    assert rejected.state == "success", _states(rejected)
    assert world.status(sid) == "closed" and world.counts(sid)["rejected"] == 5
    codes = world.db.execute("SELECT DISTINCT outcome_code FROM messages WHERE submission_id = %s", (sid,)).fetchall()
    world.db.commit()
    assert codes == [{"outcome_code": "NietGoedgekeurd"}]
    assert _audit(world, sid, "delivery.review_rejected") == ["carol"]
    assert _audit(world, sid, "submission.send_rejected") == ["carol"]


def test_four_eyes_approved_by_a_second_person_is_sent(world, short_waits):
    """The same decision without Airflow (the CLI's way in), down to delivery."""
    from bbx.delivery import holds, plan

    numbers = bsns(5, seed=133)
    world.subscribe("pf_metaal", numbers)
    world.db.execute("UPDATE connections SET approval_threshold = 4 WHERE code = 'pf_metaal'")
    world.db.commit()
    sid = world.submit("pf_metaal", "UPO2026", rows_for(numbers), channel="api", submitted_by="api-key:abcdefgh")
    (request,) = plan.plan_run("r1", max_map_length=1024, url=world.url)["reviews"]
    with pytest.raises(holds.ApprovalRefused):
        holds.decide(request["conf"]["review_id"], approve=True, by="api-key:abcdefgh", url=world.url)
    (request,) = plan.plan_run("r2", max_map_length=1024, url=world.url)["reviews"]
    holds.decide(request["conf"]["review_id"], approve=True, by="dave", url=world.url)
    deliver(world, "r3")
    assert world.status(sid) == "closed" and world.counts(sid)["delivered"] == 5
    assert _audit(world, sid, "delivery.review_approved") == ["dave"]


def test_the_cli_is_the_second_way_in(world, capsys):
    """A deactivated connection's submission: ``bbx delivery status`` names the review,
    ``bbx delivery reject`` decides it — the same decision as in Required actions."""
    from bbx import cli
    from bbx.delivery import plan

    numbers = bsns(2, seed=134)
    sid = world.submit("voorbeeld", "PASPRT", rows_for(numbers), channel="api")
    world.db.execute("UPDATE connections SET active = false WHERE code = 'voorbeeld'")
    world.db.commit()
    (request,) = plan.plan_run("cli-1", max_map_length=1024, url=world.url)["reviews"]
    review_id = request["conf"]["review_id"]
    assert cli.main(["delivery", "status", str(sid)]) == 0
    out = capsys.readouterr().out
    assert f"review {review_id} (inactive_connection" in out and f"bbx delivery approve|reject {review_id}" in out

    assert cli.main(["delivery", "reject", str(review_id), "--by", "erik", "--note", "tenant left"]) == 0
    assert "rejected, 2 message(s) not sent" in capsys.readouterr().out
    assert world.status(sid) == "closed" and world.counts(sid)["rejected"] == 2
    assert _reviews(world, sid) == [{"kind": "inactive_connection", "decision": "rejected", "decided_by": "erik"}]
    assert cli.main(["delivery", "approve", str(review_id), "--by", "erik"]) == 0  # decided already: no-op
    assert "already decided" in capsys.readouterr().out
