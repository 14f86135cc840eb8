"""``make bench``'s table (bench/run_all.py): every stage gets a row, a failed stage says so
and where its logs are, and the manual send asks for a stack of its own when none runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run_all():
    spec = importlib.util.spec_from_file_location("bench_run_all", ROOT / "bench" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_has_a_row_per_stage_and_the_notes_of_failed_ones():
    run_all = _run_all()
    rows = [
        {"stage": "sending, 40,000 subscribed", "bbx": "2,036 msg/s", "baseline": "6,635 msg/s", "ratio": 0.3068,
         "rss_mb": 153.4, "target": ">= 10,000 msg/s", "met": False},
        {"stage": "register, full list 100,000", "bbx": "5.3 s", "baseline": "5.0 s", "ratio": 0.94,
         "rss_mb": 101.0, "target": ">= 90 % of baseline", "met": True},
        {"stage": "manual", "bbx": "failed", "baseline": "-", "ratio": None, "rss_mb": None, "target": "-",
         "met": False, "note": "failed: kept /tmp/bbx-bench-manual-x (stack logs /tmp/bbx-bench-manual-x/stack/logs)"},
    ]
    lines = run_all.table(rows).splitlines()
    assert lines[0] == "| stage | BBX | baseline | ratio | peak RSS | target | met |"
    assert lines[2] == ("| sending, 40,000 subscribed | 2,036 msg/s | 6,635 msg/s | 31% | 153 MB | "
                        ">= 10,000 msg/s | NO |")
    assert lines[3].endswith("| 94% | 101 MB | >= 90 % of baseline | yes |")
    assert lines[4] == "| manual | failed | - | - | - | - | NO |"
    assert lines[-1] == "- manual: failed: kept /tmp/bbx-bench-manual-x (stack logs /tmp/bbx-bench-manual-x/stack/logs)"


def test_the_manual_send_starts_its_own_stack_at_every_size():
    run_all = _run_all()
    script, full, quick = run_all.STAGES["manual"]
    assert script == "bench_send_to_closed.py"
    assert "--own-stack" in full and "--own-stack" in quick
