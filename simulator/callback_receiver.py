"""A tenant's HTTPS receiver of BBX's status callbacks (issue 18), for the tests and the
demo stack: a threaded http.server behind TLS, its certificate issued by a test root of
``simulator.pki`` (BBX trusts that root through ``BBX_CALLBACK_CA_FILE`` or the
connection's ``callback.ca_file``; ``receiver.ca`` names it).

It records every post (headers and raw body) and answers ``status``. With ``hold`` set a
post is counted in ``arrived`` and then waits until ``hold`` is set again (a receiver that
hangs). As a service (``python -m simulator.callback_receiver``, a service of the demo
stack) it checks each post's ``BBX-Signature`` with the secret in ``--secret-file``, as a
tenant must, and appends one JSON line per post to ``--record``: ``event_id``, ``event``,
``verified``, ``body``. A post to a path ending in ``/fail`` is answered 500 (a receiver
that refuses, for a deliberately failing callback).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from simulator.pki import CertPair, issue_server_cert

SIGNATURE_HEADER = "BBX-Signature"


def verified(secret: str, body: bytes, header: str, *, tolerance: int = 300) -> bool:
    """The check a tenant writes from docs/api.md (*Callbacks*), not BBX's own code (the
    simulator imports nothing from ``bbx``): ``t=<unix seconds>,v1=<hex HMAC-SHA256 of
    "<t>.<raw body>">``, at most five minutes old."""
    try:
        fields = dict(part.strip().split("=", 1) for part in header.split(","))
        t = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


class Receiver:
    def __init__(self, folder: Path, hosts=("127.0.0.1", "localhost"), *, port: int = 0,
                 name: str = "callback-receiver", on_post=None):
        self.posts: list[tuple[dict, bytes]] = []
        self.status = 200
        self.arrived = threading.Semaphore(0)
        self.hold: threading.Event | None = None
        pair = issue_server_cert(folder, hosts=hosts, out=CertPair(folder / f"{name}.pem", folder / f"{name}-key.pem"))
        self.ca = str(folder / "ca.pem")
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.hold is not None:
                    receiver.arrived.release()
                    receiver.hold.wait()
                receiver.posts.append((dict(self.headers), body))
                status = 500 if self.path.rstrip("/").endswith("/fail") else receiver.status
                if on_post is not None:
                    on_post(dict(self.headers), body, status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pair.cert), str(pair.key))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/bbx-events"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.callback_receiver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pki-dir", required=True, help="a simulator.pki folder: its root issues the certificate")
    parser.add_argument("--secret-file", required=True, help="the HMAC secret BBX signs with")
    parser.add_argument("--record", required=True, help="JSON lines, one per post received")
    parser.add_argument("--ready-file", required=True, help="written with the receiver's URL once it listens")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    secret = Path(args.secret_file).read_text().strip()
    record, lock = Path(args.record), threading.Lock()

    def on_post(headers: dict, body: bytes, status: int) -> None:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        line = {"event_id": headers.get("BBX-Event-Id"), "event": headers.get("BBX-Event"), "answered": status,
                "verified": verified(secret, body, headers.get(SIGNATURE_HEADER, "")), "body": parsed}
        with lock, record.open("a") as out:
            out.write(json.dumps(line) + "\n")

    receiver = Receiver(Path(args.pki_dir), port=args.port, on_post=on_post)
    Path(args.ready_file).write_text(json.dumps({"url": receiver.url, "ca": receiver.ca}))
    receiver._thread.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
