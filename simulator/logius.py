"""Logius's rules for the MijnOverheid Berichtenbox, as the simulator reads them.

The simulator is BBX's yardstick, so it keeps its OWN statement of the contract and
imports nothing from ``bbx``: a limit BBX gets wrong must show up as a refusal here,
not be copied. Each fact names its source:

* ``XSD`` — Logius's official schema package (``shared/reference/logius``); the XSD
  itself enforces these when a batch is validated, they are repeated here so that
  ``tests/contract`` can compare them with BBX's limits (and check them against the XSD).
* ``guide`` — Logius's connection guide as summarised in ``shared/design/interface.md``
  (second-hand); the simulator enforces these itself.
* ``WSDL`` / ``interface.md §N`` — likewise.

Where the source leaves a reading open, the strict one is taken and said so.
"""

from __future__ import annotations

# -- GLOBE-R-BV-Request: one batch ---------------------------------------------------------
# XSD GLOBEBatchRequest.xsd: <xs:element maxOccurs="1000" ref="ns1:Bericht">
MAX_MESSAGES_PER_BATCH = 1000
# guide (interface.md §2): "one batch ≤ 100 MB including base64", read as 10^8 bytes.
# Not enforced by the simulator: the code Logius would answer is not documented.
MAX_BATCH_BYTES = 100_000_000
# XSD GLOBEBatchRequest.xsd: BerichtLeverancierID minLength 1, maxLength 25
MAX_SUPPLIER_ID_CHARS = 25

# -- one Bericht (XSD GLOBEBatchRequestTypes_128ch.xsd) ---------------------------------
MAX_MESSAGE_TYPE_CODE_CHARS = 8  # BerichtType maxLength 8
MAX_SUBJECT_CHARS = 50  # Onderwerp maxLength 50
MAX_TEXT_CHARS = 4000  # BerichtTekst maxLength 4000
MAX_REFERENCE_CHARS = 25  # Referentie maxLength 25
MAX_ATTACHMENTS_PER_MESSAGE = 2  # Bijlage maxOccurs 2
MAX_ATTACHMENT_DESCRIPTION_CHARS = 128  # Omschrijving maxLength 128 (the "_128ch" file)

# guide (interface.md §2): "attachments of one message together ≤ 500 kB before base64".
# Read strictly as 500,000 bytes (SI kilo, as "100 MB" is read as 10^8); no primary
# source found that says 512,000. Above it: BijlageTeGroot.
MAX_ATTACHMENT_BYTES_PER_MESSAGE = 500_000
# guide (interface.md §2): PublicatieDatum at most 13 days ahead, AanmaakDatum at most
# 13 days in the past (PublicatieDatumLigtTeVerInDeToekomst / AanmaakDatumLigtTeVerInHetVerleden).
MAX_PUBLICATION_DAYS_AHEAD = 13
MAX_CREATION_DAYS_BACK = 13

# -- ValidateAbonnementen ---------------------------------------------------------------
# interface.md §5: "At most 250 BSNs per call" (beyond that: ApplicationFault)
MAX_BSNS_PER_VALIDATE_CALL = 250

# -- identifiers ------------------------------------------------------------------------
OIN_DIGITS = 20  # interface.md §1, §6: party id urn:osb:oin:<20-digit OIN>
BSN_DIGITS = 9  # interface.md §7

_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def passes_eleven_test(digits: str) -> bool:
    """interface.md §7: nine digits, 9·d1 + 8·d2 + … + 2·d8 − d9 divisible by 11;
    ``000000000`` is not a BSN."""
    if len(digits) != BSN_DIGITS or not digits.isascii() or not digits.isdigit():
        return False
    if digits == "000000000":
        return False
    return sum(w * int(d) for w, d in zip(_WEIGHTS, digits, strict=True)) % 11 == 0


def mask(bsn: str | None) -> str:
    """A BSN fit for the simulator's logs: only the last three digits stay."""
    if not bsn:
        return "<none>"
    return "*" * max(len(bsn) - 3, 0) + bsn[-3:]
