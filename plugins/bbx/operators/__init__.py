"""Airflow operators: decide what to send, call the hook, record what happened."""
