"""Intake settings: one place, each with an environment variable to change it (the SFTP
connection's own are the hook's: :mod:`bbx.hooks.tenant_sftp`)."""

from __future__ import annotations

import os
from datetime import timedelta

from bbx.domain.drop import IntakeLimits

#: How often each ``bbx_ingest__<connection>`` DAG looks for drops.
POLL_INTERVAL = timedelta(minutes=int(os.environ.get("BBX_INTAKE_POLL_MINUTES", "5")))

#: A manifest drop whose listed files are not all there (or whose manifest does not
#: parse) is waited for this long after the manifest arrived, then rejected as broken.
MANIFEST_GRACE = timedelta(minutes=int(os.environ.get("BBX_INTAKE_GRACE_MINUTES", "30")))

#: Drops taken per DAG run (mapped tasks; stays far below Airflow's max_map_length).
MAX_DROPS_PER_RUN = int(os.environ.get("BBX_INTAKE_MAX_DROPS_PER_RUN", "100"))

#: Rows with personal PDFs are written in chunks of at most this many PDF bytes.
WRITE_CHUNK_BYTES = 64 * 1024 * 1024

def limits() -> IntakeLimits:
    return IntakeLimits(
        max_file_bytes=int(os.environ.get("BBX_INTAKE_MAX_FILE_MB", "512")) * 1024 * 1024,
        max_files=int(os.environ.get("BBX_INTAKE_MAX_FILES", "50000")),
    )
