"""``bbx intake check``: a tenant's or operator's dry run of a drop folder, no database."""

from pathlib import Path

from intake_helpers import pdf

from bbx.cli import main
from bbx.domain import bsn

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sample" / "tenants.yaml"
B = list(bsn.generate(3, seed=5))


def test_check_reports_rows_and_accepts(tmp_path, capsys):
    (tmp_path / "brieven.csv").write_text(f"bsn;tekst\r\n{B[0]};Hallo\r\n123;x\r\n{B[1]};\r\n")
    (tmp_path / "READY").write_text("message_type: WOZ2026\n")
    assert main(["intake", "check", str(tmp_path), "--config", str(SAMPLE), "--connection", "voorbeeld"]) == 0
    out = capsys.readouterr().out
    assert "brieven.csv row 3: BSN must have 9 digits, found 3" in out
    assert "brieven.csv row 4: message type WOZ2026 has no standard text" in out
    assert out.rstrip().endswith("OK: 1 row(s) would be accepted, 2 rejected (BSNs handed in earlier are checked by BBX itself)")


def test_check_says_why_a_drop_would_be_rejected(tmp_path, capsys):
    (tmp_path / "bsns.csv").write_text(f"{B[0]}\n")
    (tmp_path / f"{B[2]}_1.pdf").write_bytes(pdf())
    (tmp_path / "READY").write_text("message_type: PASPRT\npdfs_per_bsn: 0-1\n")
    assert main(["intake", "check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"- {B[2]}_1.pdf: no row of the drop's list has this BSN (an orphan PDF)" in out
    (tmp_path / "READY").unlink()
    (tmp_path / "manifest.json").write_text("{")
    assert main(["intake", "check", str(tmp_path)]) == 1
    assert "REJECTED as a whole: manifest.json is not valid JSON" in capsys.readouterr().out


def test_check_shows_the_schedule_and_refuses_a_wrong_one(tmp_path, capsys):
    from datetime import datetime, timedelta

    from bbx.domain.localtime import TIMEZONE

    later = (datetime.now(TIMEZONE) + timedelta(days=2)).replace(hour=8, minute=0, second=0, microsecond=0)
    (tmp_path / "bsns.csv").write_text(f"{B[0]}\n")
    (tmp_path / "READY").write_text(f"message_type: PASPRT\nsend_at: {later:%Y-%m-%d %H:%M}\n")
    main(["intake", "check", str(tmp_path)])
    assert f"scheduled: not sent before {later:%Y-%m-%d} 08:00 (CE" in capsys.readouterr().out
    (tmp_path / "READY").write_text("message_type: PASPRT\npublication_date: 2026-13-01\n")
    assert main(["intake", "check", str(tmp_path)]) == 1
    assert "REJECTED as a whole: READY is not a valid ready marker: publication_date '2026-13-01' is not a day" in (
        capsys.readouterr().out)
