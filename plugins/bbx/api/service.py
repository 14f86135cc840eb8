"""What the web service and the pages show, with the tenant check in one place.

Every function that takes a ``Principal`` returns only what that principal may see:
a tenant key sees its own tenant's connections and their submissions; an operator sees
all. Another tenant's connection or submission is answered exactly like one that does
not exist (404), so ids reveal nothing.
"""

from __future__ import annotations

from datetime import date, datetime

from bbx.api.auth import Principal
from bbx.api.errors import ApiError
from bbx.api.limits import MAX_REPORT_DAYS
from bbx.domain import bsn as bsn_rules
from bbx.domain import localtime, outcomes
from bbx.i18n import _
from bbx.store import audit, handins, lookup, register, reports, submissions
from bbx.store import progress as progress_store

TIMEZONE = localtime.TIMEZONE


def today() -> date:
    return datetime.now(TIMEZONE).date()


# --------------------------------------------------------------------------- access


def visible_connections(conn, principal: Principal) -> list[dict]:
    return lookup.connections(conn, tenant_id=None if principal.all_tenants else principal.tenant_id)


def connection_for(conn, principal: Principal, code: str) -> dict:
    row = lookup.connection(conn, code)
    if row is None or not (principal.all_tenants or row["tenant_id"] == principal.tenant_id):
        raise ApiError(404, "connection_not_found",
                       _("You have no connection '{code}'; GET /api/v1/connections lists yours.", code=code))
    return row


def submission_for(conn, principal: Principal, submission_id: int) -> dict:
    sub = lookup.submission(conn, submission_id)
    if sub is None or not (principal.all_tenants or sub["tenant_id"] == principal.tenant_id):
        raise ApiError(404, "submission_not_found",
                       _("You have no submission {id}; GET /api/v1/submissions lists yours.", id=submission_id))
    return sub


def message_type_for(conn, principal: Principal, connection: str, code: str) -> tuple[dict, dict]:
    """(the connection, its message type ``code``), if the principal may see the connection."""
    row = connection_for(conn, principal, connection)
    message_type = handins.message_type(conn, row["id"], code)
    if message_type is None:
        raise ApiError(404, "unknown_message_type",
                       _("Connection {connection} has no message type {code}.", connection=row["code"], code=code))
    return row, message_type


def message_types(conn, connection_id: int, *, active_only: bool = False) -> list[dict]:
    return handins.message_types(conn, connection_id, active_only=active_only)


def connection_json(row: dict, types: list[dict] | None = None) -> dict:
    out = {"code": row["code"], "name": row["name"], "tenant": row["tenant"], "active": row["active"]}
    if types is not None:
        out["message_types"] = [message_type_json(t) for t in types]
    return out


def message_type_json(t: dict) -> dict:
    return {"code": t["code"], "name": t["name"], "subject": t["subject"], "active": t["active"],
            "has_standard_text": t["standard_text"] is not None, "standard_text": t["standard_text"],
            "standard_attachments": t["standard_attachments"]}


# --------------------------------------------------------------------------- submissions


def submission_status(conn, sub: dict) -> dict:
    counts = submissions.outcome_counts(conn, sub["id"])
    rows = sub["rows_handed_in"] or 0
    population = sub.get("kind") == "population"  # a population list (issue 16): no messages to reconcile
    check = outcomes.reconcile(rows, counts) if sub["status"] != "rejected" and not population else None
    return {
        "id": sub["id"],
        "connection": sub["connection"],
        "tenant": sub["tenant"],
        "message_type": sub["message_type"],
        "channel": sub["channel"],
        "sandbox": sub["sandbox"],
        "external_ref": sub["external_ref"],
        "submitted_by": sub["submitted_by"],
        "received_at": sub["received_at"],
        "status": sub["status"],
        "status_reason": sub["status_reason"],
        "delivery_held": sub.get("delivery_held"),
        "rows_handed_in": sub["rows_handed_in"],
        "counts": counts,
        "final": sum(counts[o] for o in submissions.FINAL_OUTCOMES),
        "reconciled": check is not None and check.complete,
        "reconciliation": check.explanation if check is not None else (
            "a population list: nothing of it is sent" if population and sub["status"] != "rejected"
            else sub["status_reason"]),
        "closed_at": sub["closed_at"],
        "send_at": sub.get("send_at"),
        "publication_date": sub.get("publication_date"),
        "cancel_requested_at": sub.get("cancel_requested_at"),
        "cancelled_by": sub.get("cancelled_by"),
        "progress": None if population else progress_store.submission_progress(
            conn, sub, now=datetime.now(TIMEZONE)).as_dict(),
        "files": lookup.submission_files(conn, sub["id"]),
    }


def submission_list(conn, principal: Principal, connection_code: str | None, start: date, end: date,
                    limit: int) -> list[dict]:
    check_period(start, end)
    if connection_code:
        ids = [connection_for(conn, principal, connection_code)["id"]]
    else:
        ids = [c["id"] for c in visible_connections(conn, principal)]
    return reports.submission_log(conn, ids, start, end, limit=limit)


# --------------------------------------------------------------------------- BSN lookup


def check_bsn(raw: str) -> str:
    result = bsn_rules.check(raw)
    if result.error:
        raise ApiError(422, "invalid_bsn", _("Not a valid BSN: {reason}.", reason=result.error), field="bsn")
    return result.bsn


def lookup_bsn(conn, principal: Principal, raw_bsn: str, connection_codes: list[str] | None) -> dict:
    """Register periods and every message (sent or not) for one BSN, per connection."""
    bsn = check_bsn(raw_bsn)
    if connection_codes:
        connections = [connection_for(conn, principal, code) for code in dict.fromkeys(connection_codes)]
    else:
        connections = visible_connections(conn, principal)
    on = today()
    messages = lookup.messages_for_bsn(conn, bsn, [c["id"] for c in connections])
    by_connection: dict[int, list[dict]] = {c["id"]: [] for c in connections}
    for m in messages:
        by_connection[m.pop("connection_id")].append(m)
    result = []
    for c in connections:
        result.append({
            "connection": c["code"],
            "name": c["name"],
            "tenant": c["tenant"],
            "subscribed_on": on,
            "subscribed": register.is_subscribed(conn, c["id"], bsn, on),
            "periods": register.periods(conn, c["id"], bsn),
            "messages": by_connection[c["id"]],
        })
    tenant_ids = {c["tenant_id"] for c in connections}
    audit.record(conn, actor=principal.actor, action="bsn.lookup",
                 tenant_id=next(iter(tenant_ids)) if len(tenant_ids) == 1 else None,
                 details={"bsn": bsn_rules.mask(bsn), "connections": [c["code"] for c in connections],
                          "messages_found": len(messages)})
    return {"bsn": bsn, "on": on, "connections": result}


# --------------------------------------------------------------------------- reports


def check_period(start: date, end: date) -> None:
    if end < start:
        raise ApiError(422, "invalid_period", _("The period ends ({end}) before it starts ({start}).", end=end,
                                                start=start))
    if (end - start).days + 1 > MAX_REPORT_DAYS:
        raise ApiError(422, "period_too_long",
                       _("The period has {days} days; at most {max} per request.", days=(end - start).days + 1,
                         max=MAX_REPORT_DAYS))


def default_period() -> tuple[date, date]:
    end = today()
    return end.replace(day=1), end
