"""``make demo`` — the main job, end to end, on the real platform, left running.

1. BBX's database (the local server, or an embedded PostgreSQL), migrations, a content
   key, the sample tenant configuration;
2. the platform as background services (``bbx.stack``): the MijnOverheid simulator, the
   tenant SFTP server, and Airflow's api-server, scheduler, dag-processor and triggerer
   (LocalExecutor); BBX's Connections and pool registered by ``bbx airflow setup``.
   A stack that already runs is reused;
3. on a fresh register: ``bbx_register_refresh`` over two simulated days (a full list
   yesterday, today's sign-ups and sign-offs), with the simulator's clock on each day;
4. a sample drop for every connection (or ``--drop FOLDER`` of your own, handed in as a
   tenant's SFTP client would: sub-folders and links included), uploaded over SFTP;
5. intake (``bbx_ingest__<connection>``, triggered through Airflow's REST API), delivery
   (``bbx_deliver``, on intake's asset event) and results — all run by the scheduler;
6. the reconciled counts per submission, the tenants' outboxes copied to ``demo-out/``,
   the UI address and sign-in. ``make stop`` stops the platform.

Exit codes: 0 every submission reconciled; 1 BBX or the platform failed (a run failed, a
timeout, counts that do not add up); 2 wrong arguments or configuration; 3 ``--drop``
was rejected by intake, as designed (the tenant's report is in ``demo-out/``).

The package: ``cli`` (set-up and the run itself), ``drops`` (uploads as the tenant, the
sample drops), ``register`` (the simulated register days), ``report`` (the counts, the
outboxes), ``common`` (folders, timings, exit codes). The names below are the ones the
stack, the tests and the benches use.
"""

from bbx.demo.cli import main, prepare, run, show_configuration
from bbx.demo.common import (
    DEMO_DIR,
    DEMO_TIMINGS,
    EXIT_FAILED,
    EXIT_MEANING,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    OUT_DIR,
    SAMPLE_CONFIG,
    step,
)
from bbx.demo.drops import DropError, drop_entries, own_drop, sample_drops, upload
from bbx.demo.register import last_register_day, register_days
from bbx.demo.report import copy_outboxes, print_report, submission_report

__all__ = [
    "DEMO_DIR", "DEMO_TIMINGS", "EXIT_FAILED", "EXIT_MEANING", "EXIT_OK", "EXIT_REJECTED", "EXIT_USAGE",
    "OUT_DIR", "SAMPLE_CONFIG", "DropError", "copy_outboxes", "drop_entries", "last_register_day", "main",
    "own_drop", "prepare", "print_report", "register_days", "run", "sample_drops", "show_configuration",
    "step", "submission_report", "upload",
]
