"""CSV downloads (RFC 4180: comma-separated, UTF-8, a header line).

Every cell goes through BBX's formula guard (``bbx.domain.csvfile.guard``): a text that a
spreadsheet would run as a formula gets a leading ``'``; ``csvfile.unguard`` gives the
raw value back. BSNs, numbers and dates are never changed."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from fastapi.responses import Response, StreamingResponse

from bbx.domain import csvfile


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return csvfile.guard(value)


def render(rows: Iterable[dict], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def response(rows: Iterable[dict], columns: Sequence[str], filename: str) -> Response:
    return Response(render(rows, columns), media_type="text/csv; charset=utf-8", headers=_headers(filename))


def _headers(filename: str) -> dict:
    return {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}


def stream_rows(rows: Iterable[dict], columns: Sequence[str], filename: str, *, batch: int = 2000) -> StreamingResponse:
    """A CSV download of any length, written while ``rows`` is read (constant memory)."""

    def chunks():
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(columns)
        for n, row in enumerate(rows, start=1):
            writer.writerow([_cell(row.get(c)) for c in columns])
            if n % batch == 0:
                yield out.getvalue().encode("utf-8")
                out.seek(0)
                out.truncate()
        yield out.getvalue().encode("utf-8")

    return StreamingResponse(chunks(), media_type="text/csv; charset=utf-8", headers=_headers(filename))


def stream_bytes(chunks: Iterable[bytes], filename: str) -> StreamingResponse:
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=_headers(filename))
