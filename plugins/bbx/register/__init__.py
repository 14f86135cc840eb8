"""The BSN register's shell: refresh from MijnOverheid, export, live check, lookups.

* :mod:`bbx.register.refresh` — ask for the list (full or changes) through the
  Berichtenbox hook, collect the gzip answer, apply it (``bbx.store.register_refresh``);
* :mod:`bbx.register.export` — the daily CSV export into the tenant's SFTP outbox;
* :mod:`bbx.register.tasks` — the Airflow task bodies of ``bbx_register_refresh``;
* :mod:`bbx.register.cli` — ``bbx register ...`` for operators;
* :func:`live_check` — ValidateAbonnementen, for a lookup's "check live" or a manual
  send; never for bulk.

Business rules are in :mod:`bbx.domain.register`, SQL in :mod:`bbx.store.register`
(lookups), :mod:`bbx.store.register_refresh` and :mod:`bbx.store.register_exports`.
"""

from __future__ import annotations

from collections.abc import Iterable


def live_check(connection_code: str, bsns: Iterable[str], message_type_code: str | None = None,
               *, hook=None) -> dict[str, bool]:
    """Ask MijnOverheid now (ValidateAbonnementen, at most 250 BSNs per call) whether
    each BSN may receive messages of this connection; ``{bsn: bool}``.

    ``message_type_code`` defaults to the connection's first active message type (the
    service answers per sender and message type). At most
    :data:`bbx.domain.register.MAX_LIVE_CHECK_BSNS` BSNs: this is for a lookup or a manual
    send, never for bulk (Logius limits its use).
    """
    from bbx.domain import register as rules
    from bbx.store import db
    from bbx.store.administration import connection_by_code

    batches = rules.live_check_batches(bsns)
    with db.connect() as conn:
        connection = connection_by_code(conn, connection_code)
        if connection is None:
            raise ValueError(f"unknown connection {connection_code!r}")
        if message_type_code is None:
            from bbx.store import handins

            row = next(iter(handins.message_type_codes(conn, connection["id"], active_only=True)), None)
            if row is None:
                raise ValueError(
                    f"connection {connection_code} has no active message type; the live check "
                    "asks per message type: pass one"
                )
            message_type_code = row["code"]
    if hook is None:
        from bbx.hooks.berichtenbox import BerichtenboxHook

        hook = BerichtenboxHook.for_connection(connection_code)
    answers: dict[str, bool] = {}
    for batch in batches:
        answers.update(hook.validate_abonnementen(
            sender_code=connection["sender_code"], message_type_code=message_type_code, bsns=batch,
        ))
    return answers
