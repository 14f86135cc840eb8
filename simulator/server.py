"""HTTPS with client certificates (Digikoppeling 2W-be), one thread per connection.

* TLS 1.2 minimum; a client certificate signed by the configured root is required
  (``CERT_REQUIRED``): no certificate, an unknown root or plain HTTP fails the handshake.
* The caller's OIN is the ``serialNumber`` of the client certificate's subject. The
  service endpoints answer 403 to a certificate whose OIN no configured sender allows.
* The TLS handshake runs in the connection's own thread, so a slow or plain-HTTP
  client never blocks the accept loop.

Routes: ``/service/ebms`` (POST SOAP, GET ``?wsdl``), ``/BerichtenboxValidatieService``
(POST SOAP, GET ``?wsdl``/``?xsd=xsdN``), ``/admin/...`` (JSON, see admin.py).
Fault injection (latency, HTTP 500/503, dropped connections) applies to service POSTs.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from simulator.admin import AdminApi
from simulator.app import Simulator
from simulator.config import EBMS_PATH, VALIDATIE_PATH, SimulatorConfig
from simulator.ebms import EbmsService
from simulator.logius import mask
from simulator.pki import oin_from_subject
from simulator.soap import CONTENT_TYPE, SoapFault, fault
from simulator.validatie import ValidatieService

log = logging.getLogger("simulator.server")
_BSN_LIKE = re.compile(r"(?<!\d)\d{8,9}(?!\d)")


@dataclass(frozen=True)
class TlsFiles:
    """The server's certificate and key, and the root that client certificates need."""

    cert: Path
    key: Path
    client_ca: Path


def server_context(tls: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(str(tls.cert), str(tls.key))
    context.load_verify_locations(cafile=str(tls.client_ca))
    return context


class _ConnectionDropped(Exception):
    """Fault injection closed the connection; send nothing."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MijnOverheidSimulator/1.0"
    # small SOAP answers on keep-alive connections: without this Nagle + delayed ACK add ~40 ms
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are closed after this
    server: SimulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.caller_oin = oin_from_subject(self.connection.getpeercert().get("subject", ()))

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib signature)
        # admin paths can hold a BSN (/admin/box/<bsn>): never log one in full
        line = _BSN_LIKE.sub(lambda m: mask(m.group(0)), format % args)
        log.debug("%s %s", self.address_string(), line)

    # -- plumbing ------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, answer) -> None:
        self._send(status, json.dumps(answer, indent=1).encode(), "application/json")

    def _body(self, limit: int | None = None) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.server.app.config.max_body_bytes:
            raise ValueError(f"request body of {length} bytes is too large")
        return self.rfile.read(length if limit is None else min(limit, length))

    def _chunked(self) -> bytes:
        parts, total = [], 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > self.server.app.config.max_body_bytes:
                raise ValueError("chunked request body is too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _ConnectionDropped

    def _base_url(self) -> str:
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        if any(c in host for c in "\"<>' /\\"):
            host = "{}:{}".format(*self.server.server_address[:2])
        return f"https://{host}"

    # -- methods -------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        try:
            if url.path == "/admin" or url.path.startswith("/admin/"):
                status, answer = self.server.admin.handle(method, url.path, url.query, self._body())
                self._json(status, answer)
            elif url.path in (EBMS_PATH, VALIDATIE_PATH):
                self._service(method, url.path, url.query)
            else:
                self._send(404, b"not found\n", "text/plain")
        except _ConnectionDropped:
            pass
        except ValueError as exc:
            self.close_connection = True
            self._send(413, f"{exc}\n".encode(), "text/plain")

    def _service(self, method: str, path: str, query: str) -> None:
        app = self.server.app
        if method == "GET":
            if path == EBMS_PATH and query.lower() == "wsdl":
                self._send(200, self.server.ebms.wsdl(self._base_url()), CONTENT_TYPE)
                return
            document = (
                self.server.validatie.document(query, self._base_url())
                if path == VALIDATIE_PATH
                else None
            )
            if document is None:
                self._send(404, b"use ?wsdl\n", "text/plain")
            else:
                self._send(200, document, CONTENT_TYPE)
            return
        if method != "POST":
            self._send(405, b"method not allowed\n", "text/plain", {"Allow": "GET, POST"})
            return
        if not app.knows_certificate(self.caller_oin):
            self._body()
            self._send(
                403,
                f"client certificate OIN {self.caller_oin} is not known here\n".encode(),
                "text/plain",
            )
            return
        faults = app.faults
        if faults.latency:
            time.sleep(faults.latency)
        if faults.fires("drop"):
            self._body(limit=int(self.headers.get("Content-Length") or 0) // 2)
            self._drop()
        data = self._body()
        if faults.fires("http_503"):
            self._send(503, b"Service Unavailable (injected)\n", "text/plain", {"Retry-After": "1"})
            return
        if faults.fires("http_500"):
            self._send(500, b"Internal Server Error (injected)\n", "text/plain")
            return
        try:
            if path == EBMS_PATH:
                answer = self.server.ebms.handle(data, self.caller_oin)
            else:
                answer = self.server.validatie.handle(
                    data, self.caller_oin, self.headers.get("SOAPAction")
                )
            status = 200
        except SoapFault as exc:
            answer, status = fault(exc), 500
        except Exception:  # a bug in the simulator: say so, as a SOAP fault
            log.exception("error handling %s", path)
            answer, status = fault(SoapFault("internal error in the simulator (see its log)")), 500
        if faults.fires("drop_after_processing"):
            self._drop()
        self._send(status, answer, CONTENT_TYPE)


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Simulator, context: ssl.SSLContext) -> None:
        self.app = app
        self.context = context
        self.ebms = EbmsService(app)
        self.validatie = ValidatieService(app)
        self.admin = AdminApi(app)
        super().__init__(address, Handler)

    def process_request_thread(self, request, client_address) -> None:
        """Handshake in this connection's thread, then serve it."""
        tls = None
        try:
            request.settimeout(30)
            tls = self.context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
            tls.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            # wrap_socket detached ``request``: close the TLS socket itself, and keep no
            # reference to the exception (a captured log record would keep it open)
            log.info("TLS handshake with %s refused: %s", client_address[0], str(exc))
            self.shutdown_request(tls if tls is not None else request)
            return
        try:
            self.finish_request(tls, client_address)
        except Exception:
            self.handle_error(tls, client_address)
        finally:
            self.shutdown_request(tls)

    def handle_error(self, request, client_address) -> None:
        log.debug("connection from %s ended with an error", client_address[0], exc_info=True)


class RunningSimulator:
    """A simulator served in a background thread (tests, the bench, embedding)."""

    def __init__(
        self, config: SimulatorConfig, tls: TlsFiles, host: str = "127.0.0.1", port: int = 0
    ):
        self.app = Simulator(config)
        self.httpd = SimulatorHTTPServer((host, port), self.app, server_context(tls))
        self.host = host
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="simulator", daemon=True
        )

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def start(self) -> RunningSimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.app.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningSimulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
