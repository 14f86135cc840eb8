"""Plain baselines for ``bench_api_personal.py``: two trivial ASGI servers that take the same
multipart body as BBX's send endpoint and do nothing with it.

- ``streaming``: reads the body chunk by chunk and counts the bytes (the least any server
  that receives the body must do);
- ``buffered``: Starlette's ``request.form()``, what BBX's send endpoint did before the
  streamed reader (``bbx.api.streamed``): each file part in a ``SpooledTemporaryFile``
  (in memory up to 1 MB each, plain on disk beyond), then read.

Run: ``python -m uvicorn _sinks:streaming --app-dir bench --port N``.
"""

from __future__ import annotations

import json

from starlette.requests import Request


async def _answer(send, body: dict) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


async def streaming(scope, receive, send):
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await _answer(send, {"bytes": size})


async def buffered(scope, receive, send):
    if scope["type"] != "http":
        return
    request = Request(scope, receive)
    form = await request.form(max_files=100_000, max_fields=100, max_part_size=64 * 1024 * 1024)
    files = size = 0
    kept = []
    for _, value in form.multi_items():
        if hasattr(value, "read"):
            kept.append(await value.read())  # held, as the old endpoint held every PDF until hand-in
            files += 1
            size += len(kept[-1])
    await _answer(send, {"files": files, "bytes": size})
    await form.close()
