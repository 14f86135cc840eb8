"""Standard texts uploaded over SFTP (issue 18): ``inbox/standard-texts/<CODE>.txt``,
handled by ``find_drops`` before it lists the drops (so ``standard-texts`` is no drop).

Each file becomes a new version of message type ``<CODE>``'s standard text
(bbx.domain.standard_texts) with the same checks as the web service's upload, and is
answered in ``outbox/``:

- ``standard-texts.<CODE>.v<N>.txt``: accepted as version N (the text as stored);
- ``standard-texts.<file>.refused.txt``: why not (not UTF-8, too long, a bad
  placeholder, no such message type in this connection).

Only ``*.txt`` is read: upload under another name and rename when complete. The file is
removed after its answer is in ``outbox/``.
"""

from __future__ import annotations

import logging

from bbx.domain import standard_texts as rules
from bbx.hooks.tenant_sftp import ConnectionFolders
from bbx.i18n import _
from bbx.intake.steps.common import masked
from bbx.store import db, handins, standard_texts

log = logging.getLogger(__name__)

FOLDER = "standard-texts"  # in inbox/


def handle_standard_texts(folders: ConnectionFolders, connection: dict) -> list[str]:
    """Every ``inbox/standard-texts/*.txt``, one at a time; returns the answers' file names."""
    answers = []
    for entry in folders.list("inbox", FOLDER):
        if entry.kind != "file" or not entry.name.lower().endswith(".txt"):
            log.info("inbox/%s/%s is not a .txt file and is left alone", FOLDER, masked(entry.name))
            continue
        answers.append(_handle_one(folders, connection, entry.name))
    return answers


def _handle_one(folders: ConnectionFolders, connection: dict, name: str) -> str:
    code = name[: -len(".txt")]
    checked = rules.check_upload(folders.read_bytes("inbox", FOLDER, name))
    with db.connect() as conn:
        message_type = handins.message_type(conn, connection["id"], code)
        if message_type is None or not message_type["active"]:
            problem = _("Connection {connection} has no message type {code}.", connection=connection["code"],
                        code=code)
        elif checked.text is None:
            problem = "; ".join(checked.problems)
        else:
            problem = None
            added = standard_texts.add(conn, message_type["id"], checked.text, source="sftp",
                                       actor=f"sftp:{connection['code']}:{FOLDER}/{name}")
            conn.commit()
    if problem is None:
        answer = f"{FOLDER}.{code}.v{added['version']}.txt"
        folders.upload((_("Accepted as version {version} of the standard text of {code}; submissions from now on "
                          "use it.", version=added["version"], code=code) + "\r\n\r\n"
                        + checked.text.replace("\n", "\r\n") + "\r\n").encode("utf-8"), "outbox", answer)
        log.info("inbox/%s/%s: version %s", FOLDER, masked(name), added["version"])
    else:
        answer = f"{FOLDER}.{name}.refused.txt"
        folders.upload((_("The standard text was not changed.") + "\r\n" + problem + "\r\n").encode("utf-8"),
                       "outbox", answer)
        log.warning("inbox/%s/%s: refused: %s", FOLDER, masked(name), problem)
    folders.remove("inbox", FOLDER, name)
    return answer
