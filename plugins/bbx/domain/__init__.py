"""Pure business rules: no I/O, no Airflow, no database. Tested without any of them."""
