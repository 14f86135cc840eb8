"""A send request as ``multipart/form-data``, read as it arrives: never the whole body in memory.

A bulk send of personal letters (10,000 citizens with one or two PDFs each) is hundreds of
megabytes. Starlette's ``request.form()`` would spool the parts to plain temporary files
(personal PDFs unencrypted on disk); instead the body is fed chunk by chunk to
``python_multipart``'s push parser and

- the text part ``request`` (the JSON body, at most :data:`MAX_REQUEST_PART_BYTES`) is kept;
- each file part (a PDF named ``<BSN>_1.pdf`` / ``<BSN>_2.pdf``) is collected up to the
  per-message PDF limit (500 kB: a larger PDF can never be sent, so its content is not
  kept, only its size), inspected (:func:`bbx.domain.attachments.inspect_pdf`) and written
  **encrypted** (:mod:`bbx.crypto`, the key of personal content at rest) to one anonymous
  temporary file, the :class:`Spool`. What stays in memory per PDF is its name, size,
  SHA-256 and inspection result; the encrypted token goes into the database as it is.

PDFs are handed to a worker thread (encrypting and inspecting them would block the event
loop) in groups of up to :data:`HAND_OVER_BYTES`, not one by one: a thread hop per PDF made
reading 10,000 PDFs wait mostly on thread switches. So at most that many bytes of PDFs
(plus one PDF ≤ 500 kB) are in memory at a time, whatever the number of citizens.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from bbx import crypto
from bbx.api.errors import ApiError
from bbx.api.limits import MAX_BSNS_PER_CALL
from bbx.domain import attachments as pdfs
from bbx.domain import limits
from bbx.i18n import _

MAX_REQUEST_PART_BYTES = 64 * 1024 * 1024  # the JSON part: 10,000 personal texts of 4,000 characters fit
MAX_FILE_PARTS = limits.MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE * MAX_BSNS_PER_CALL
_KEEP_BYTES = limits.MAX_ATTACHMENT_BYTES_PER_MESSAGE  # larger PDFs never fit in a message
HAND_OVER_BYTES = 4 * 1024 * 1024  # PDFs collected before one worker-thread hop spools them


class Spool:
    """The PDFs of one request, each encrypted, in one anonymous temporary file (deleted
    when closed, and by the OS if the process dies)."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="bbx-send-")
        self._end = 0

    def add_all(self, parts: list[tuple[str, bytes | None, int]]) -> list[SpooledUpload]:
        """:meth:`add` for each ``(file name, content, size)``, in order (one worker-thread call)."""
        return [self.add(*part) for part in parts]

    def add(self, file_name: str, content: bytes | None, size: int) -> SpooledUpload:
        """Store one PDF (``content`` None: it was larger than any message may carry)."""
        if content is None:
            return SpooledUpload(file_name, "", size, pdfs.PdfProblem(_(
                "the PDF is {kb} kB; MijnOverheid accepts at most {limit} kB of PDFs per message: make it smaller",
                kb=format(-(-size // 1000), ","), limit=limits.MAX_ATTACHMENT_BYTES_PER_MESSAGE // 1000)), self, -1, 0)
        token = crypto.encrypt(content)
        self._file.seek(self._end)
        self._file.write(token)
        offset, self._end = self._end, self._end + len(token)
        return SpooledUpload(file_name, hashlib.sha256(content).hexdigest(), size, pdfs.inspect_pdf(content),
                             self, offset, len(token))

    def token(self, offset: int, length: int) -> bytes:
        self._file.seek(offset)
        return self._file.read(length)

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class SpooledUpload:
    """A PDF of the request, kept encrypted in the :class:`Spool` (same interface as
    :class:`bbx.api.sending.Upload`)."""

    file_name: str
    sha256: str
    size: int
    inspection: pdfs.PdfInfo | pdfs.PdfProblem = field(repr=False)
    spool: Spool = field(repr=False, compare=False)
    offset: int = field(repr=False)
    length: int = field(repr=False)

    def inspect(self) -> pdfs.PdfInfo | pdfs.PdfProblem:
        return self.inspection

    def encrypted(self) -> bytes:
        """The content encrypted with :mod:`bbx.crypto` (stored as it is)."""
        return self.spool.token(self.offset, self.length)

    def read(self) -> bytes:
        return crypto.decrypt(self.encrypted())


@dataclass
class StreamedForm:
    request: bytes | None  # the text part "request" (None: missing)
    uploads: list[SpooledUpload]
    spool: Spool


async def read(request: Request) -> StreamedForm:
    """Parse the multipart body of ``request`` as it streams in. The caller closes
    ``form.spool`` (the routes do, in ``finally``)."""
    _kind, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_request", _("The multipart request has no boundary in its Content-Type header."))

    spool = Spool()
    form = StreamedForm(None, [], spool)
    state: dict = {"headers": {}, "field": b"", "value": b"", "name": None, "file": None, "data": [], "size": 0}
    finished: list[tuple[str | None, str | None, bytes | None, int]] = []  # parts ended in this chunk

    def on_part_begin():
        state.update(headers={}, name=None, file=None, data=[], size=0)

    def on_header_field(data, start, end):
        state["field"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished():
        _kind, disposition = parse_options_header(state["headers"].get(b"content-disposition", b""))
        if b"name" not in disposition:
            raise ApiError(400, "bad_request", 'The Content-Disposition header field "name" must be provided.')
        state["name"] = disposition[b"name"].decode("utf-8", "replace")
        file_name = disposition.get(b"filename")
        state["file"] = None if file_name is None else file_name.decode("utf-8", "replace")

    def on_part_data(data, start, end):
        state["size"] += end - start
        if state["file"] is None:
            if state["size"] > MAX_REQUEST_PART_BYTES:
                raise ApiError(413, "request_too_large", _(
                    "The part '{name}' is larger than {mb} MB: send at most 10,000 messages per request.",
                    name=state["name"], mb=MAX_REQUEST_PART_BYTES // (1024 * 1024)), field="request")
            state["data"].append(bytes(data[start:end]))
        elif state["data"] is not None and state["size"] <= _KEEP_BYTES:
            state["data"].append(bytes(data[start:end]))
        else:
            state["data"] = None  # too large to send: only the size is kept

    def on_part_end():
        data = state["data"]
        finished.append((state["name"], state["file"], None if data is None else b"".join(data), state["size"]))
        state["data"] = []

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished})
    pending: list[tuple[str, bytes | None, int]] = []  # PDFs read, not yet spooled
    pending_bytes = 0
    files = 0

    async def hand_over():
        nonlocal pending_bytes
        form.uploads.extend(await run_in_threadpool(spool.add_all, list(pending)))
        pending.clear()
        pending_bytes = 0

    try:
        async for chunk in request.stream():
            parser.write(chunk)
            for name, file_name, content, size in finished:
                if file_name is None:
                    if name == "request":
                        form.request = content
                    continue  # other text fields are not part of the API: ignored, as before
                files += 1
                if files > MAX_FILE_PARTS:
                    raise ApiError(422, "too_many_attachments", _(
                        "More than {count} PDFs in one request; at most {per_bsn} per BSN.", count=format(MAX_FILE_PARTS, ","),
                        per_bsn=limits.MAX_PERSONAL_ATTACHMENTS_PER_MESSAGE), field="attachments")
                pending.append((file_name, content, size))
                pending_bytes += len(content or b"")
            finished.clear()
            if pending_bytes >= HAND_OVER_BYTES:
                await hand_over()
        parser.finalize()
        if pending:
            await hand_over()
    except ApiError:
        spool.close()
        raise
    except Exception as exc:  # python_multipart raises its own errors for a broken body
        spool.close()
        raise ApiError(400, "bad_request", _("The multipart body cannot be read: {reason}.", reason=exc)) from None
    return form
