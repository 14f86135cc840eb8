"""The steps of SFTP intake, one function per task of ``bbx_ingest__<connection>``.

    find_drops ─► receive_drop ─► validate_drop ─► acknowledge_drop ─► announce_accepted
                  (mapped over the drops found)

Every step can crash at any point and simply run again (a retry, or an operator
clearing the task): it looks at where the drop is (inbox/, processing/, archive/) and
at its row in ``sftp_drops`` and does only what is left.

- ``find_drops``: creates missing folders; lists drops that are complete (their marker
  is there; a manifest's files all present with their sizes) and drops left in
  ``processing/`` by an earlier run.
- ``receive_drop``: moves the drop ``inbox/ → processing/`` (one atomic rename), hashes
  every file, and in ONE transaction opens the submission, logs every file (name, size,
  sha256) and decides: validate, duplicate (a re-upload of an accepted drop: same
  drop_id or same content) or rejected (broken manifest).
- ``validate_drop``: checks the drop and every row (``bbx.domain.drop_check``) and in ONE
  transaction writes every row (accepted: planned messages; rejected: with reason) and
  accepts the submission — or rejects the whole drop when it has drop-level problems.
  Then the error reports go to ``outbox/``.
- ``acknowledge_drop``: writes the acknowledgement (and a rejection notice) to
  ``outbox/`` and moves the drop ``processing/ → archive/``.

The steps live in one module each (``find``, ``receive``, ``validate`` with ``rows``,
``acknowledge``, ``upkeep`` for the daily housekeeping; ``common`` for what they share);
this package's names are the ones the DAG files and tests call.
"""

from bbx.intake.steps.acknowledge import accepted_submissions, acknowledge_drop
from bbx.intake.steps.common import ACTOR, IntakeError, masked
from bbx.intake.steps.find import find_drops
from bbx.intake.steps.receive import receive_drop
from bbx.intake.steps.upkeep import housekeeping
from bbx.intake.steps.validate import validate_drop

__all__ = [
    "ACTOR",
    "IntakeError",
    "accepted_submissions",
    "acknowledge_drop",
    "find_drops",
    "housekeeping",
    "masked",
    "receive_drop",
    "validate_drop",
]
