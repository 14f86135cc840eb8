"""The rules of holds, four-eyes and the stuck-message sweep (pure)."""

from __future__ import annotations

import pytest

from bbx.domain import holds, sweep
from bbx.domain.outcomes import Outcome


def test_four_eyes_threshold_is_strictly_more_than():
    assert not holds.needs_four_eyes(10_000, 10_000)
    assert holds.needs_four_eyes(10_001, 10_000)
    assert not holds.needs_four_eyes(10**6, None)  # no threshold: never


@pytest.mark.parametrize(("kind", "channel", "submitted_by", "approver", "refused"), [
    ("four_eyes", "manual", "airflow:bob", "bob", True),        # the submitter himself
    ("four_eyes", "api", "api-key:abcdefgh", "api-key:abcdefgh", True),
    ("four_eyes", "manual", "airflow:bob", "alice", False),
    ("four_eyes", "sftp", "sftp:gemeente", "alice", False),     # a drop: any operator
    ("stale_register", "sftp", "sftp:gemeente", "alice", False),
    ("stale_register", "manual", "airflow:bob", "bob", False),   # not a four-eyes hold
    ("four_eyes", "manual", "airflow:bob", None, True),          # nobody named
    ("four_eyes", "manual", "user:bob", "bob", True),            # a BBX account is the same person in Airflow
    ("four_eyes", "manual", "user:bob", "user:bob", True),
    ("four_eyes", "manual", "user:bob", "olga", False),          # another operator
])
def test_who_may_approve(kind, channel, submitted_by, approver, refused):
    assert bool(holds.refuse_approver(kind, channel=channel, submitted_by=submitted_by, approver=approver)) is refused


def test_review_request_says_why_and_what_to_do():
    conf = holds.review_request({"id": 7, "kind": "four_eyes", "submission_id": 42, "connection_code": "voorbeeld",
                                 "channel": "manual", "rows_handed_in": 12000, "submitted_by": "airflow:bob",
                                 "reason": "12000 messages is more than the connection's approval threshold"})
    assert conf["review_id"] == 7 and conf["kind"] == "four_eyes"
    assert "42" in conf["subject"] and "12000" in conf["subject"]
    assert "approval threshold" in conf["body"] and "not given by `airflow:bob`" in conf["body"]
    assert holds.review_run_id(7) == "review__7"


def test_stuck_messages_are_resent_until_the_bound():
    assert sweep.stuck_decision(1, 3) is Outcome.QUEUED
    assert sweep.stuck_decision(2, 3) is Outcome.QUEUED
    assert sweep.stuck_decision(3, 3) is Outcome.FAILED
    with pytest.raises(ValueError):
        sweep.stuck_decision(1, 0)
