"""When a BBX task may be retried: only for failures that can pass by themselves.

The hook classifies its own errors (``bbx.hooks.berichtenbox.TRANSIENT_ERRORS`` /
``PERMANENT_ERRORS``); this turns that into Airflow 3.3's ``retry_policy``. A refusal
(SOAP fault, HTTP 4xx), a connection that is missing or incomplete: the task fails at
once with the reason, because the same request will be refused again. An unreachable
adapter or database: the task's ordinary retries (with backoff) apply. Anything else
falls back to the task's ``retries``.
"""

from __future__ import annotations

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule
from airflow.sdk.exceptions import AirflowNotFoundException

from bbx.hooks.berichtenbox import PERMANENT_ERRORS, TRANSIENT_ERRORS

RETRY_POLICY = ExceptionRetryPolicy(rules=[
    RetryRule(
        exception=[*PERMANENT_ERRORS, AirflowNotFoundException],
        action=RetryAction.FAIL,
        reason="permanent: the request or its configuration is wrong; fix it, then clear the task",
    ),
    RetryRule(
        exception=[*TRANSIENT_ERRORS, "psycopg.OperationalError"],
        action=RetryAction.RETRY,
        reason="transient: the adapter or the database was unreachable",
    ),
])
