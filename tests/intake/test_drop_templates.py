"""Fill-in templates in an SFTP drop (issue 18): ``((name))`` columns of the list fill the
message type's standard text per row; a missing or unknown value is a row reason naming
the placeholder (the rule of bbx.domain.templates, the same words as the web service)."""

import io

from bbx.domain import bsn
from bbx.domain.drop import ListedFile, classify, parse_marker
from bbx.domain.drop_check import DropCheck, MessageTypeInfo

B = list(bsn.generate(5, seed=18))
TEMPLATE = "Beste ((naam)),((partner??\nUw partner krijgt ook een brief.))"
TEMPLATED = MessageTypeInfo("WOZ2026", "Uw WOZ-beschikking", has_standard_text=True, standard_text=TEMPLATE)
PLAIN = MessageTypeInfo("PASPRT", "Uw paspoort verloopt", has_standard_text=True, standard_text="Uw paspoort.")


def check(listing: str) -> DropCheck:
    files = {"lijst.csv": listing.encode(), "READY": b"message_type: WOZ2026\n"}
    listed = [classify(ListedFile(name, len(data))) for name, data in files.items()]
    drop = DropCheck(parse_marker("READY", files["READY"]), listed, lambda name: io.BytesIO(files[name])).scan()
    assert drop.problems == []
    return drop


def test_value_columns_fill_the_standard_text_per_row():
    drop = check("bsn;((naam));(( Partner ))\r\n"
                 f"{B[0]};J. Jansen;ja\r\n{B[1]};P. de Vries;nee\r\n{B[2]};;ja\r\n")
    results = {r.row.number: r for r in drop.check_rows(TEMPLATED, None, {})}
    assert results[2].accepted and results[2].text == "Beste J. Jansen,\r\nUw partner krijgt ook een brief."
    assert results[3].accepted and results[3].text == "Beste P. de Vries,"
    assert results[4].reasons == ["the standard text needs a value for ((naam)): give it for this citizen"]


def test_a_bsn_list_for_a_template_is_refused_per_row_not_sent_with_placeholders():
    drop = check(f"bsn\r\n{B[0]}\r\n")
    [result] = drop.check_rows(TEMPLATED, None, {})
    assert not result.accepted
    assert result.reasons == ["the standard text needs a value for ((naam)): give it for this citizen",
                              "the standard text needs a value for ((partner)): give it for this citizen"]


def test_a_value_column_the_text_does_not_have_names_it():
    drop = check(f"bsn;((naam));((partner));((adres))\r\n{B[0]};A;nee;Dorpsstraat 1\r\n")
    [result] = drop.check_rows(TEMPLATED, None, {})
    assert len(result.reasons) == 1 and result.reasons[0].startswith("((adres)) is not a placeholder")
    plain = check(f"bsn;((naam))\r\n{B[1]};A\r\n")
    [result] = plain.check_rows(PLAIN, None, {})
    assert result.reasons == ["values are given but there is nothing to fill in: the standard text has no "
                              "placeholders; remove them"]
