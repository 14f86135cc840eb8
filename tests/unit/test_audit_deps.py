"""The dependency audit (scripts/audit_deps.py): accepted vulnerabilities need a reason,
and an audit that could not ask the advisory service, or a pin it could not audit,
fails loudly instead of passing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import audit_deps  # noqa: E402


def _run(tmp_path, lock: str, ignore: str = "", **env):
    (tmp_path / "lock.txt").write_text(lock)
    (tmp_path / "ignore.txt").write_text(ignore)
    env = {**os.environ, "BBX_AUDIT_LOCK": str(tmp_path / "lock.txt"), "BBX_AUDIT_IGNORE": str(tmp_path / "ignore.txt"),
           **env}
    env.pop("BBX_SKIP_AUDIT", None)
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "audit_deps.py")], capture_output=True, text=True,
                          env=env, timeout=120)


def test_ignore_file_needs_a_reason_per_line(tmp_path):
    good = tmp_path / "ok.txt"
    good.write_text("# comment\nGHSA-aaaa-bbbb-cccc  # CLI only, accepted by J., review 2027-01\n"
                    "unaudited Foo_Bar==1.0  # no per-version entry\n")
    assert audit_deps.accepted(good) == ({"GHSA-aaaa-bbbb-cccc": "CLI only, accepted by J., review 2027-01"},
                                         {"foo-bar==1.0": "no per-version entry"})
    bad = tmp_path / "bad.txt"
    bad.write_text("GHSA-aaaa-bbbb-cccc\n")
    with pytest.raises(SystemExit, match="bad.txt:1"):
        audit_deps.accepted(bad)


def test_the_project_ignore_file_is_valid():
    vulns, pins = audit_deps.accepted()
    assert all(vulns.values()) and all(pins.values())


def test_unreachable_service_fails_and_says_so(tmp_path):
    result = _run(tmp_path, "jinja2==3.1.6\n", HTTPS_PROXY="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    assert result.returncode == 1
    assert "could not ask the advisory service" in result.stderr and "NOT audited" in result.stderr


def test_a_pin_nothing_could_audit_is_named_and_fails_when_strict_unless_accepted(tmp_path):
    old = "jinja2==3.1.5\n"  # an older release: PyPI's per-project entry does not cover it
    warned = _run(tmp_path, old)
    assert warned.returncode == 0 and "WARNING" in warned.stderr and "jinja2==3.1.5" in warned.stderr
    result = _run(tmp_path, old, BBX_AUDIT_STRICT="1")
    assert result.returncode == 1 and "jinja2==3.1.5" in result.stderr, result.stderr
    accepted = _run(tmp_path, old, "unaudited jinja2==3.1.5  # test\n")
    assert accepted.returncode == 0, accepted.stderr
    assert "1 unaudited pins accepted" in accepted.stdout
