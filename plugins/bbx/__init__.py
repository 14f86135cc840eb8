"""BBX — a Berichtenbox gateway built on Apache Airflow.

Layout: ``domain`` holds the pure business rules (no I/O); ``store`` the PostgreSQL
access; ``hooks``/``operators`` the Airflow shell; ``api`` the FastAPI app.
"""

__version__ = "0.1.0"
