"""Airflow hooks: the protocols BBX speaks to the outside world."""
