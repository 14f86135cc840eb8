"""Secrets BBX takes from Airflow's secrets chain (Airflow Variables): where operators
keep them — a secrets backend (HashiCorp Vault, AWS/GCP/Azure secret managers, a local
file), an ``AIRFLOW_VAR_<NAME>`` environment variable, or the metadata database.

In a task the Task SDK's ``Variable.get`` asks its chain (environment, the configured
backend, then the API server); in Airflow's other processes and the ``bbx`` command
Airflow's own ``Variable.get_variable_from_secrets`` walks the configured backends, the
metadata database included (as bbx.settings does for the ``bbx_db`` Connection).

Today one secret lives here: the content-encryption keys (Variable ``bbx_content_keys``,
bbx.crypto). BBX has no API key pepper: API keys are 256 random bits, stored as SHA-256.
"""

from __future__ import annotations

import sys

CONTENT_KEYS_VARIABLE = "bbx_content_keys"


def variable(key: str) -> str | None:
    """The Variable's value through Airflow's secrets chain; None when no backend has it."""
    if hasattr(sys.modules.get("airflow.sdk.execution_time.task_runner"), "SUPERVISOR_COMMS"):
        from airflow.sdk import Variable

        return Variable.get(key, default=None)
    from airflow.models.variable import Variable as CoreVariable

    return CoreVariable.get_variable_from_secrets(key)
