"""A connection configured ``pdfa: strict`` refuses personal PDFs that are not PDF/A."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from api_helpers import auth, bsns, make_pdf, upload
from fpdf import FPDF

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def pdfa_letter() -> bytes:
    if not FONT.exists():
        pytest.fail(f"{FONT} not installed (Debian fonts-dejavu-core; make test installs it)")
    document = FPDF(enforce_compliance="PDF/A-2B")
    document.set_creation_date(datetime(2026, 1, 1, tzinfo=UTC))
    document.add_font("D", "", str(FONT))
    document.add_page()
    document.set_font("D", size=12)
    document.cell(0, 7, "Uw WOZ-beschikking")
    return bytes(document.output())


def _send(client, key, targets, files):
    body = {"message_type": "WOZ2026", "bsns": targets}
    return client.post("/api/v1/connections/voorbeeld/messages",
                       headers={**auth(key), "Idempotency-Key": str(uuid.uuid4())},
                       data={"request": json.dumps(body)}, files=files)


def test_strict_refuses_a_pdf_that_is_not_pdfa_and_warn_sends_it(client, keys, configured):
    targets = bsns(2, seed=71)
    files = [upload(f"{targets[0]}_1.pdf", pdfa_letter()), upload(f"{targets[1]}_1.pdf", make_pdf("gewoon"))]
    assert _send(client, keys.a, targets, files).status_code == 201  # default: warn

    configured.execute("UPDATE connections SET pdfa = 'strict' WHERE code = 'voorbeeld'")
    configured.commit()
    response = _send(client, keys.a, bsns(2, seed=72), [upload(f"{bsns(2, seed=72)[1]}_1.pdf", make_pdf("x"))])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "attachment_not_pdfa"
    assert "is not PDF/A" in error["message"] and "PDF/A-2b" in error["message"]
    pdfa_only = bsns(1, seed=73)
    assert _send(client, keys.a, pdfa_only, [upload(f"{pdfa_only[0]}_1.pdf", pdfa_letter())]).status_code == 201
