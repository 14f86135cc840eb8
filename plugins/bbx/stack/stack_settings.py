"""What a stack is made of (``StackSettings``): one module below ``running``, ``start``
and ``workers``, which all read it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bbx import airflow_env, settings
from bbx.stack.processes import default_state_dir


@dataclass
class StackSettings:
    """What a stack is made of; everything has a default for ``make demo``."""

    bbx_url: str
    airflow_url: str
    state_dir: Path
    airflow_home: Path
    tenants_file: Path = settings.SAMPLE_CONFIG
    api_port: int = 8080
    population_size: int = 5000
    result_delay: float = 0.5
    register_delay: float = 0.5
    today: str | None = None  # the simulator's starting date (None: the real date)
    # how the simulator writes results: "live" (as a live ebms-core adapter: VerwerkingsCode
    # 00, qualified root, Z times) or "documented" (interface.md §3); BBX reads both
    result_dialect: str = "live"
    parallelism: int = 8
    pool_slots: int = 4
    paused_at_creation: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    executor: str = "local"  # or "celery"
    # one Celery worker per entry: the queues it serves (comma-separated)
    celery_workers: tuple[str, ...] = ("default", "berichtenbox", "berichtenbox")
    worker_concurrency: int = 2
    # Redis DB number of the broker; every key also carries a prefix of this stack's own
    # (its state folder), so stacks of tests and benches never share a queue
    redis_db: int = 3

    @classmethod
    def default(cls, **changes) -> StackSettings:
        bbx_url = changes.pop("bbx_url", None) or settings.database_url()
        airflow_url = (changes.pop("airflow_url", None) or os.environ.get("BBX_AIRFLOW_DATABASE_URL")
                       or airflow_env.metadata_url(bbx_url))
        return cls(
            bbx_url=bbx_url, airflow_url=settings._normalise(airflow_url),
            state_dir=Path(changes.pop("state_dir", None) or default_state_dir()),
            airflow_home=Path(changes.pop("airflow_home", None)
                              or os.environ.get("BBX_AIRFLOW_HOME", airflow_env.AIRFLOW_HOME)),
            api_port=int(changes.pop("api_port", None) or os.environ.get("BBX_API_PORT", 8080)),
            **changes,
        )
