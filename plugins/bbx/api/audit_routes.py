"""Web service: ``GET /api/v1/audit`` — the audit log for operator and auditor keys.

Thin: who may read what and the filters are in ``bbx.api.audit_views``, SQL in
``bbx.store.audit``. Tenant keys are refused (their people read their tenant's entries
on the audit page)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from bbx.api import audit_views, csvout, models
from bbx.api.auth import ConnDep, Principal, api_principal
from bbx.api.errors import ApiError
from bbx.i18n import _
from bbx.store import audit

router = APIRouter(prefix="/api/v1", responses={s: {"model": models.ErrorBody} for s in (401, 403, 404, 422)})


@router.get("/audit", tags=["audit"], summary="The audit log: who did what, when, with what outcome",
            description="Newest first, `limit` per page; the next page: `before` = the last `id` of this one. "
                        "`format=csv` gives every matching entry (oldest first) in BBX's CSV dialect. "
                        "For operator and auditor keys; days are Dutch calendar days, both ends included.")
def audit_log(principal: Annotated[Principal, Depends(api_principal)], conn: ConnDep,
              tenant: Annotated[str | None, Query(description="tenant code")] = None,
              actor: Annotated[str | None, Query(description="part of who did it")] = None,
              action: Annotated[str | None, Query(description="an action, or an area such as `submission`")] = None,
              outcome: Annotated[Literal["ok", "refused"] | None, Query()] = None,
              since: Annotated[date | None, Query(alias="from")] = None,
              until: Annotated[date | None, Query(alias="to")] = None,
              before: Annotated[int | None, Query(ge=1, description="entries with a smaller id (paging)")] = None,
              limit: Annotated[int, Query(ge=1, le=audit_views.MAX_PAGE_SIZE)] = audit_views.PAGE_SIZE,
              format: Annotated[Literal["json", "csv"], Query()] = "json"):
    if not audit_views.reads_all_tenants(principal):
        raise ApiError(403, "forbidden", _("The audit log is for operator and auditor keys."))
    filters = audit_views.filters_for(conn, principal, tenant=tenant, actor=actor, action=action, outcome=outcome,
                                      since=since, until=until)
    if format == "csv":
        return csvout.stream_bytes(audit_views.export_chunks(filters), "audit.csv")
    rows = audit.search(conn, filters, before_id=before, limit=limit)
    return {"entries": [audit_views.entry_json(r) for r in rows],
            "next_before": rows[-1]["id"] if len(rows) == limit else None}
