"""Async triggers: waits that run in Airflow's triggerer, not on a worker."""
