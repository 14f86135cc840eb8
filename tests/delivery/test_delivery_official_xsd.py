"""The batches BBX actually sends — built from the database by the delivery shell, with
standard and personal texts, composed attachments, references and publication dates —
validate against Logius's OFFICIAL GLOBEBatchRequest.xsd (../shared/reference/logius)."""

from __future__ import annotations

from datetime import date, timedelta

from delivery_helpers import bsns, pdf_bytes, personal, rows_for
from lxml import etree

from bbx.delivery import build, plan
from bbx.store import batches as batch_store
from bbx.store import submissions
from simulator.schemas import GLOBE_REQUEST, load_official_xsd

NS = "{http://schemas.rdw.nl/GEB/BerichtenProsessor/Bericht/Types/2009/01}"


def test_batches_bbx_builds_validate_against_the_official_xsd(tenants, shared_logius):
    official = load_official_xsd(shared_logius, GLOBE_REQUEST)
    numbers = bsns(1205, seed=81)
    tenants.subscribe("voorbeeld", numbers)
    tenants.subscribe("pf_metaal", numbers[:4])
    tenants.submit("voorbeeld", "PASPRT", rows_for(numbers))  # standard text + 2 standard PDFs
    text = "Geachte heer Öztürk & mevrouw <De Vries>,\r\nuw pensioen: € 1.234,56\n\n— Groet"
    tenants.submit("pf_metaal", "UPO2026", [  # 3 standard PDFs: composed with the personal ones
        submissions.NewRow(1, numbers[0], text=text, reference="REF-2026/001 & co",
                           attachments=(personal(1, pdf_bytes("UPO"), f"{numbers[0]}.pdf"),)),
        submissions.NewRow(2, numbers[1], attachments=(personal(1, pdf_bytes("a"), f"{numbers[1]}_1.pdf"),
                                                        personal(2, pdf_bytes("b", 3), f"{numbers[1]}_2.pdf"))),
        submissions.NewRow(3, numbers[2], subject="Een eigen onderwerp: 100% & meer"),
        submissions.NewRow(4, numbers[3], text="Kort."),
    ])
    tenants.db.execute("UPDATE messages SET publication_date = %s WHERE row_number = 4",
                       (date.today() + timedelta(days=3),))
    tenants.db.commit()
    planned = plan.plan_run("xsd-run", max_map_length=1024, url=tenants.url)
    batch_ids = [b for s in planned["slices"] for b in s["batch_ids"]]
    assert len(batch_ids) == 3  # 1000 + 205 + 4

    sets = build.StandardSets()
    seen_attachments = []
    for batch_id in batch_ids:
        built = build.build(tenants.db, batch_store.batch(tenants.db, batch_id), standard_sets=sets)
        assert built.rejections == {}
        document = etree.fromstring(built.payload)
        assert official.validate(document), official.error_log
        for bericht in document.iter(f"{NS}Bericht"):
            seen_attachments.append(len(bericht.findall(f"{NS}Bijlagen/{NS}Bijlage")))
    tenants.db.commit()
    # every message carries at most 2 PDFs, whatever the type had (2 or 3 standard + 0-2 personal)
    assert max(seen_attachments) == 2 and len(seen_attachments) == 1209
