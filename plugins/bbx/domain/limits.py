"""Contract limits of MijnOverheid / Logius, in one place.

Sources: the official GLOBE XSDs in ``shared/reference/logius`` and Logius's connection
guide (see ``shared/design/interface.md`` §2–5). Change a limit here and nowhere else.
"""

# GLOBE-R-BV-Request: one delivery batch
MAX_MESSAGES_PER_BATCH = 1000
# serialized XML, base64 attachments included. "100 MB" read as 10^8 bytes: the
# conservative reading of Logius's guide (100 MiB would be 4.9 % more).
MAX_BATCH_BYTES = 100_000_000

# One message (Bericht)
MAX_SUBJECT_CHARS = 50  # Onderwerp
MAX_TEXT_CHARS = 4000  # BerichtTekst
MAX_REFERENCE_CHARS = 25  # Referentie
MAX_MESSAGE_TYPE_CODE_CHARS = 8  # BerichtType
MAX_ATTACHMENTS_PER_MESSAGE = 2  # Bijlage, Volgorde 1 or 2
# all attachments together, before base64. "500 kB" read strictly as 500,000 bytes (SI
# kilo, like "100 MB" above); 512,000 would let a letter through that Logius may refuse.
MAX_ATTACHMENT_BYTES_PER_MESSAGE = 500_000
MAX_ATTACHMENT_DESCRIPTION_CHARS = 128  # Omschrijving
MAX_PUBLICATION_DAYS_AHEAD = 13  # PublicatieDatum
MAX_CREATION_DAYS_BACK = 13  # AanmaakDatum
MAX_SUPPLIER_ID_CHARS = 25  # BerichtLeverancierID

# What the product brief allows a tenant to hand in, before BBX composes it into
# at most MAX_ATTACHMENTS_PER_MESSAGE PDFs.
MAX_STANDARD_ATTACHMENTS_PER_MESSAGE_TYPE = 3
MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE = 2

# ValidateAbonnementen (synchronous quick check)
MAX_BSNS_PER_VALIDATE_CALL = 250

# Identifiers
OIN_DIGITS = 20
BSN_DIGITS = 9
