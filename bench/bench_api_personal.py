"""Personal letters through the web service: one call for 10,000 citizens with PDFs, and the
api-server's peak memory beside plain baselines.

This script makes a fresh BBX database (``letters_bench_api_personal``), starts the BBX app
as its own **uvicorn process** (``uvicorn bbx.api.app:create_app --factory``) and sends ONE
``multipart/form-data`` request: the JSON part ``request`` with ``messages`` (a personal
text, subject and reference per citizen) and a PDF per citizen (every ``--second``-th
citizen two), ``--pdf-kb`` kB each (an incompressible image inside; ``--trailing-padding``:
padded after ``%%EOF`` as before, see ``_base_pdf``), each PDF different. The body is generated while it is
sent (the client holds no copy). It prints

- the time of the call and the rows handed in (the submission, from the answer);
- the api-server's peak RSS (``VmHWM`` of its process) before and after the call;
- the same body sent to two trivial uvicorn servers in the same run (``bench/_sinks.py``):
  a streaming sink that only counts the bytes, and Starlette's buffering ``request.form()``
  (what the endpoint did before the streamed reader): their peak RSS and time.

Run: ``.venv/bin/python bench/bench_api_personal.py`` (``--citizens 1000`` for a quick run,
``--keep`` leaves the database).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import bench_database_url, fresh_database

BENCH = Path(__file__).resolve().parent
BOUNDARY = "bbxbenchboundary7f3a"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM")


def _start(target: list[str], port: int, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", *target, "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning", "--lifespan", "off"], env=env, start_new_session=True)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
            return proc
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise RuntimeError(f"server {target} exited with {proc.returncode}") from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server {target} did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _base_pdf(kb: int, trailing: bool = False) -> bytes:
    """A valid PDF of about ``kb`` kB: the size is an incompressible image inside the
    document, as in a scanned letter. ``trailing``: the size is a comment after ``%%EOF``
    instead (this bench's layout before December 2026): pypdf then walks that one long last
    line back byte by byte to find ``%%EOF``, ~10 ms per 20 kB PDF on this machine against
    ~1 ms, which made the PDF inspection, not BBX, most of the call's time."""
    import io

    from fpdf import FPDF
    from PIL import Image

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.cell(0, 10, "Persoonlijke brief (benchmark)")
    if not trailing:
        side = int((kb * 1000 / 3) ** 0.5)
        image = io.BytesIO()
        Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(image, format="PNG")
        pdf.image(image, x=10, y=30, w=60)
    data = bytes(pdf.output())
    if trailing and kb * 1000 > len(data):  # incompressible bytes after %%EOF: a larger, still valid PDF
        data += b"\n%" + os.urandom((kb * 1000 - len(data)) // 2).hex().encode() + b"\n"
    return data


def _body(citizens: list[str], pdf: bytes, second: int):
    """The multipart body, generated part by part (a generator: no copy in the client)."""
    messages = [{"bsn": b, "text": f"Beste inwoner,\nDit is uw persoonlijke brief nummer {i}.\n"
                                   + "Met vriendelijke groet,\nGemeente Voorbeeld" + " ." * 100,
                 "subject": f"Uw brief {i}", "reference": f"brief-{i}"} for i, b in enumerate(citizens, 1)]
    request = json.dumps({"message_type": "WOZ2026", "messages": messages}).encode()

    def parts():
        yield (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="request"\r\n'
               "Content-Type: application/json\r\n\r\n").encode() + request + b"\r\n"
        for i, bsn in enumerate(citizens, 1):
            for n in (1, 2) if second and i % second == 0 else (1,):
                head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="attachments"; '
                        f'filename="{bsn}_{n}.pdf"\r\nContent-Type: application/pdf\r\n\r\n').encode()
                yield head + pdf + f"% {bsn}_{n}\n".encode() + b"\r\n"
        yield f"--{BOUNDARY}--\r\n".encode()

    size = sum(len(p) for p in parts())
    return parts, size


def _post(port: int, path: str, parts, headers: dict) -> tuple[float, int, dict]:
    import httpx

    t = time.perf_counter()
    response = httpx.post(f"http://127.0.0.1:{port}{path}", content=parts(), timeout=3600,
                          headers={**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    return time.perf_counter() - t, response.status_code, response.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=10_000)
    parser.add_argument("--pdf-kb", type=int, default=20, help="size of each PDF")
    parser.add_argument("--second", type=int, default=10, help="every N-th citizen gets a second PDF (0: none)")
    parser.add_argument("--trailing-padding", action="store_true",
                        help="pad each PDF after %%%%EOF, as this bench did before (slow to inspect: see _base_pdf)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="letters_bench_personal_"))
    from bbx import settings

    url = bench_database_url("letters_bench_api_personal")
    env = {**os.environ, "BBX_DATABASE_URL": url, "BBX_KEY_FILE": str(work / "content.key")}
    os.environ.update({"BBX_DATABASE_URL": url, "BBX_KEY_FILE": env["BBX_KEY_FILE"]})
    settings.database_url.cache_clear()

    from bbx import crypto
    from bbx.domain import bsn as bsn_rules
    from bbx.store import api_keys, db

    crypto.create_key_file()
    fresh_database(url)
    with db.transaction(url) as conn:
        key = api_keys.create_key(conn, tenant_code="gemeente-voorbeeld", operator=False, name="bench",
                                  created_by="bench").key

    citizens = list(bsn_rules.generate(args.citizens, seed=18))
    parts, size = _body(citizens, _base_pdf(args.pdf_kb, args.trailing_padding), args.second)
    pdf_count = args.citizens + (args.citizens // args.second if args.second else 0)
    figures: dict = {"citizens": args.citizens, "pdfs": pdf_count, "pdf_kb": args.pdf_kb,
                     "padding": "after %%EOF" if args.trailing_padding else "inside",
                     "body_mb": round(size / 1e6, 1)}
    try:
        port = _free_port()
        server = _start(["bbx.api.app:create_app", "--factory"], port, env)
        try:
            idle = _rss_peak_mb(server.pid)
            seconds, status, answer = _post(port, "/api/v1/connections/voorbeeld/messages", parts,
                                            {"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())})
            assert status == 201, json.dumps(answer)[:1000]
            assert answer["rows_handed_in"] == args.citizens, answer
            figures["bbx"] = {"seconds": round(seconds, 1), "rows_per_s": round(args.citizens / seconds),
                              "status": status, "submission": answer["id"], "rows_handed_in": answer["rows_handed_in"],
                              "peak_rss_mb_before": idle, "peak_rss_mb": _rss_peak_mb(server.pid)}
            with db.transaction(url) as conn:
                figures["bbx"]["attachments_stored"] = conn.execute(
                    "SELECT count(*) AS n FROM message_attachments a JOIN messages m ON m.id = a.message_id "
                    "WHERE m.submission_id = %s", (answer["id"],)).fetchone()["n"]
        finally:
            _stop(server)
        for name in ("streaming", "buffered"):
            port = _free_port()
            sink = _start(["_sinks:" + name, "--app-dir", str(BENCH)], port, env)
            try:
                idle = _rss_peak_mb(sink.pid)
                seconds, status, answer = _post(port, "/", parts, {})
                assert status == 200, answer
                figures[f"baseline_{name}_sink"] = {"seconds": round(seconds, 1), "peak_rss_mb_before": idle,
                                                    "peak_rss_mb": _rss_peak_mb(sink.pid), "answer": answer}
            finally:
                _stop(sink)
    finally:
        if not args.keep:
            db.drop_database(url)
    bbx, plain = figures["bbx"], figures["baseline_streaming_sink"]
    figures["bbx_growth_mb"] = round(bbx["peak_rss_mb"] - bbx["peak_rss_mb_before"], 1)
    figures["streaming_sink_growth_mb"] = round(plain["peak_rss_mb"] - plain["peak_rss_mb_before"], 1)
    figures["buffered_sink_growth_mb"] = round(figures["baseline_buffered_sink"]["peak_rss_mb"]
                                               - figures["baseline_buffered_sink"]["peak_rss_mb_before"], 1)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
