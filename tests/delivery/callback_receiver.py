"""A real HTTPS receiver of BBX's status callbacks in the test process: a threaded
http.server behind TLS, its certificate from simulator.pki (trust ``receiver.ca``)."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from simulator.pki import issue_server_cert


class Receiver:
    """An HTTPS endpoint that records every post and answers ``self.status``."""

    def __init__(self, folder):
        self.posts: list[tuple[dict, bytes]] = []
        self.status = 200
        pair = issue_server_cert(folder, hosts=("127.0.0.1", "localhost"))
        self.ca = str(folder / "ca.pem")
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pair.cert), str(pair.key))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/bbx-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(tmp_path):
    r = Receiver(tmp_path / "pki")
    yield r
    r.close()
