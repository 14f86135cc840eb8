"""The daily register export into the tenant's SFTP outbox.

For a connection with ``register_export: true`` (or ``full``): the register as on the day; with
``population``: only its BSNs in the connection's population. As CSV in
BBX's outbox dialect (``bbx.domain.csvfile``: UTF-8 with BOM, ``;``, CR LF, header line
``bsn;begin_date;end_date``, sorted by BSN; an empty ``end_date`` means no sign-off is
known), plus a ``.sha256`` file in ``sha256sum``
format. Both are written under a hidden temporary name (``.<name>.part``, as every
outbox file) and renamed when complete, the checksum file last: a tenant picks up the
CSV once its ``.sha256`` is there, and ``sha256sum -c register-<code>-<day>.csv.sha256``
checks it.

With ``register_export: population`` the CSV holds only the subscribed BSNs that are in
the connection's population (``bbx.store.population``). A connection with a population
also gets a JSON companion ``register-<code>-<day>.json`` (written before the
``.sha256``): scope, rows, and the subscribed BSNs in the population and outside it.

The CSV streams from PostgreSQL (COPY TO) straight into the SFTP file: a million rows
never sit in memory. The SFTP session is BBX's SFTP hook, as for intake
(``bbx.hooks.tenant_sftp``: the provider's ``SFTPHook`` on Airflow Connection ``bbx_sftp``,
with its connection retries, and the same atomic ``.part`` rename).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date

from bbx.domain import csvfile
from bbx.domain import population as population_rules
from bbx.domain import register as rules
from bbx.store import administration, db
from bbx.store import population as population_store
from bbx.store import register as store
from bbx.store import register_exports as export_store

log = logging.getLogger(__name__)


def export_register(connection_code: str, day: date, *, sftp_conn_id: str | None = None,
                    force: bool = False, on_lines=None) -> dict:
    """Write the export of ``day`` (once; ``force`` writes it again). Returns what was
    written: ``{path, checksum_path, rows, size_bytes, sha256}``, or ``{"skipped": why}``.
    ``on_lines(n)`` is told the lines written so far, header included (``bbx register
    export`` shows it as progress)."""
    with db.connect() as conn:
        connection = administration.connection_by_code(conn, connection_code)
        if connection is None:
            raise ValueError(f"unknown connection {connection_code!r}")
        if not connection["register_export"]:
            return {"skipped": f"connection {connection_code} does not ask for a register export"}
        scope = connection["register_export_scope"]
        people = population_store.current(conn, connection["id"])
        if scope == "population" and people is None:
            why = (f"connection {connection_code} exports the register of its population "
                   "(register_export: population) but no population list was handed in yet")
            log.warning("%s: register export of %s skipped: %s", connection_code, day, why)
            return {"skipped": why}
        done = export_store.export_for(conn, connection["id"], day)
        if done is not None and not force:
            return {"skipped": f"already exported to {done['path']}", **_public(done)}
        from bbx.hooks.tenant_sftp import session

        csv_name, sum_name = rules.export_names(connection_code, day)
        digest, size, newlines = hashlib.sha256(), 0, 0
        with session(sftp_conn_id) as hook:
            sftp = hook.sftp
            folders = hook.folders(connection["sftp_folder"])
            folders.ensure_tree()
            path, sum_path = folders.path("outbox", csv_name), folders.path("outbox", sum_name)
            with sftp.open(folders.part_path(path), "wb") as remote:
                remote.set_pipelined(True)
                for chunk in csvfile.from_copy(store.active_register_csv(
                        conn, connection["id"], day, options=csvfile.COPY_OPTIONS,
                        only_population=scope == "population")):
                    digest.update(chunk)
                    remote.write(chunk)
                    size += len(chunk)
                    newlines += chunk.count(b"\n")
                    if on_lines is not None:
                        on_lines(newlines)
            folders.replace(folders.part_path(path), path)
            sha256 = digest.hexdigest()
            companion = None
            if people is not None:  # the counts beside the file (issue 16), before the checksum file
                companion = _companion(conn, connection, day, scope, people, csv_name, sha256, newlines)
                companion_path = folders.path("outbox", population_rules.companion_name(csv_name))
                with sftp.open(folders.part_path(companion_path), "wb") as remote:
                    remote.write(companion["content"])
                folders.replace(folders.part_path(companion_path), companion_path)
            with sftp.open(folders.part_path(sum_path), "wb") as remote:
                remote.write(rules.checksum_line(sha256, csv_name).encode("ascii"))
            folders.replace(folders.part_path(sum_path), sum_path)
        conn.rollback()  # end the read transaction of the COPY
        rows = max(newlines - 1, 0)  # minus the header line
        with conn.transaction():
            export_store.record_export(conn, connection["id"], day, path=path, checksum_path=sum_path, rows=rows,
                                       size_bytes=size, sha256=sha256)
            population_store.record_export_scope(conn, connection["id"], day, scope=scope,
                                                 counts=companion and {**companion["counts"], "path": companion_path})
    log.info("%s: register of %s exported to %s (%d rows, sha256 %s)", connection_code, day, path, rows, sha256)
    result = {"path": path, "checksum_path": sum_path, "rows": rows, "size_bytes": size, "sha256": sha256}
    if companion is not None:
        result.update(companion_path=companion_path, **companion["counts"])
    return result


def _companion(conn, connection: dict, day: date, scope: str, people: dict, csv_name: str, sha256: str,
               newlines: int) -> dict:
    """The JSON companion of an export of a connection with a population: what the file
    holds and how many subscribed BSNs are in the population and outside it."""
    counts = {**population_store.export_counts(conn, connection["id"], day),
              "population_version": people["version"], "population_members": people["members"]}
    document = {"connection": connection["code"], "register_date": day.isoformat(), "scope": scope,
                "file": csv_name, "sha256": sha256, "rows": max(newlines - 1, 0), **counts}
    return {"counts": counts, "content": (json.dumps(document, indent=2) + "\n").encode("ascii")}


def _public(row: dict) -> dict:
    return {k: row[k] for k in ("path", "checksum_path", "rows", "size_bytes", "sha256")}
