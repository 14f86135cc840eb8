"""``python -m simulator``: every option documented, and it starts by hand."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from simulator.__main__ import build_parser, config_from_args
from simulator.client import AdminClient
from simulator.pki import make_test_pki
from simulator.testing import SENDER_A

ROOT = Path(__file__).resolve().parents[2]


def test_help_documents_every_option():
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    for action in build_parser()._actions:
        for option in action.option_strings:
            assert option in result.stdout
        assert action.help, f"{action.option_strings} has no help text"


def test_options_override_the_config_file(tmp_path):
    config = tmp_path / "sim.yaml"
    config.write_text(
        "result_delay: 5\nsenders:\n  - oin: '00000001001234567000'\n    message_types: [A]\n"
        "faults: {http_503_rate: 0.1}\n"
    )
    args = build_parser().parse_args(
        [
            "--config",
            str(config),
            "--result-delay",
            "0.5",
            "--today",
            "2026-03-01",
            "--sender",
            "00000001002345678000:cpa-x:B,C",
            "--population-size",
            "10",
            "--fault-technisch-probleem-rate",
            "0.2",
        ]
    )
    parsed = config_from_args(args)
    assert parsed.result_delay == 0.5 and str(parsed.today) == "2026-03-01"
    assert [s.oin for s in parsed.senders] == ["00000001001234567000", "00000001002345678000"]
    assert parsed.senders[1].cpa_id == "cpa-x" and parsed.senders[1].message_types == {"B", "C"}
    assert parsed.senders[1].population.size == 10
    assert parsed.faults.http_503_rate == 0.1 and parsed.faults.technisch_probleem_rate == 0.2


def test_starts_by_hand_and_stops_on_sigterm(tmp_path):
    ready = tmp_path / "ready.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "--pki-dir",
            str(tmp_path / "pki"),
            "--generate-pki",
            "--sender",
            f"{SENDER_A}:cpa-1:UPO2026",
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert process.poll() is None, "the simulator exited"
            assert time.monotonic() < deadline, "the simulator did not start"
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        pki = make_test_pki(tmp_path / "pki")  # the files it generated
        admin = AdminClient(info["base_url"], pki.ca, pki.admin)
        assert admin.health() == {"status": "ok"}
        assert [s["cpa_id"] for s in admin.senders()] == ["cpa-1"]
        admin.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_senders_from_a_bbx_tenant_file(tmp_path):
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(
        "version: 1\ntenants:\n  - code: t\n    connections:\n"
        "      - code: c\n        oin: '00000001001234567000'\n        sender_code: GMVOORB\n"
        "        cpa_id: cpa-c\n        message_types:\n          - {code: PASPRT, subject: x}\n"
    )
    args = build_parser().parse_args(
        ["--tenants", str(tenants), "--intermediary-oin", "00000001009999999000"]
    )
    (sender,) = config_from_args(args).senders
    assert (sender.oin, sender.cpa_id, sender.sender_code) == (
        "00000001001234567000",
        "cpa-c",
        "GMVOORB",
    )
    assert sender.message_types == {"PASPRT"}
    assert sender.certificate_oins == {"00000001001234567000", "00000001009999999000"}
