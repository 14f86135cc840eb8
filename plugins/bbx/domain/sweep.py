"""Messages stuck in ``sent``: acknowledged by the adapter, no result ever came.

After ``stuck_after`` without a result a message is sent again with the same BerichtID
(MijnOverheid answers ``BerichtBestaatAl`` if it had it: counted as delivered, never a
second letter) — as long as it was sent fewer than ``max_sends`` times; then it fails
with :data:`NO_RESULT_CODE` and an operator is told (Notify's ``timeout_notifications``).
"""

from __future__ import annotations

from bbx.domain.outcomes import Outcome

NO_RESULT_CODE = "GeenResultaat"
NO_RESULT_EXPLANATION = {
    "nl": ("Geen resultaat van MijnOverheid na {sends} verzendpogingen; een beheerder zoekt uit "
           "of het bericht is aangekomen."),
    "en": ("No result from MijnOverheid after {sends} sends; an operator must investigate "
           "whether the message arrived."),
}


def stuck_decision(send_attempts: int, max_sends: int) -> Outcome:
    """Resend (``queued``) while sends remain, else ``failed``."""
    if max_sends < 1:
        raise ValueError("max_sends counts sends and starts at 1")
    return Outcome.QUEUED if send_attempts < max_sends else Outcome.FAILED
