"""Helpers of the intake tests (a module with a unique name, so that other test folders'
modules never shadow it): the tenant's SFTP client, markers, PDFs, one intake cycle."""

from __future__ import annotations

import base64
import hashlib
import io
import json

import paramiko

from simulator.sftp_server import SftpServer

TENANT = "gemeente-voorbeeld"
CONNECTION = "voorbeeld"
TENANT_PASSWORD = "tenant-secret"


class Tenant:
    """The tenant's side: an SFTP client logged in as the tenant (chroot /<tenant>/)."""

    def __init__(self, server: SftpServer, user: str = TENANT, password: str = TENANT_PASSWORD):
        self.client = paramiko.SSHClient()
        self.client.get_host_keys().add(f"[{server.host}]:{server.port}", *_key(server.host_key_line))
        self.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        self.client.connect(server.host, port=server.port, username=user, password=password,
                            look_for_keys=False, allow_agent=False)
        self.sftp = self.client.open_sftp()

    def upload_drop(self, name: str, files: dict[str, bytes], *, marker: str | None = "READY",
                    marker_content: bytes | None = None, connection: str = CONNECTION,
                    message_type: str = "PASPRT") -> str:
        folder = f"/{connection}/inbox/{name}"
        self.sftp.mkdir(folder)
        for file_name, content in files.items():
            self.sftp.putfo(io.BytesIO(content), f"{folder}/{file_name}")
        if marker is not None:
            if marker_content is None:
                marker_content = ready(message_type) if marker.lower() != "manifest.json" else manifest(message_type, files)
            self.sftp.putfo(io.BytesIO(marker_content), f"{folder}/{marker}")
        return folder

    def outbox(self, connection: str = CONNECTION) -> dict[str, bytes]:
        out = {}
        for name in sorted(self.sftp.listdir(f"/{connection}/outbox")):
            with self.sftp.open(f"/{connection}/outbox/{name}", "rb") as handle:
                out[name] = handle.read()
        return out

    def listdir(self, path: str) -> list[str]:
        return sorted(self.sftp.listdir(path))

    def close(self) -> None:
        self.client.close()


def _key(line: str):
    kind, data = line.split()[:2]
    return kind, paramiko.PKey.from_type_string(kind, base64.b64decode(data))


def ready(message_type: str, **extra: str) -> bytes:
    lines = [f"message_type: {message_type}"] + [f"{k}: {v}" for k, v in extra.items()]
    return ("\r\n".join(lines) + "\r\n").encode()


def manifest(message_type: str, files: dict[str, bytes], **extra) -> bytes:
    doc = {"protocol": "bbx-drop/1", "message_type": message_type, **extra,
           "files": [{"name": n, "sha256": hashlib.sha256(c).hexdigest(), "size": len(c)} for n, c in files.items()]}
    return json.dumps(doc, indent=1).encode()


def run_intake(connection: str = CONNECTION) -> list[dict]:
    """All steps once, as one DAG run does (without Airflow)."""
    from bbx.intake import steps

    results = []
    for found in steps.find_drops(connection):
        received = steps.receive_drop(found)
        validated = steps.validate_drop(received)
        results.append(steps.acknowledge_drop(validated))
    return results


def pdf(text: str = "Persoonlijke brief", pages: int = 1, padding: int = 0) -> bytes:
    """A real PDF with text (fpdf2); ``padding`` bytes of random data (an embedded file)
    make it larger without breaking it."""
    from fpdf import FPDF

    doc = FPDF()
    for page in range(pages):
        doc.add_page()
        doc.set_font("helvetica", size=12)
        doc.cell(text=f"{text} ({page + 1})")
    data = bytes(doc.output())
    if padding:
        import random

        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
        writer.add_attachment("padding.bin", random.Random(padding).randbytes(padding))
        out = io.BytesIO()
        writer.write(out)
        data = out.getvalue()
    return data


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)
