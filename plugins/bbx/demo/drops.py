"""The demo's drops: handed in over SFTP as a tenant's client would (``upload``), the
samples for every connection, or ``--drop FOLDER`` of your own."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bbx.stack import Stack
from bbx.store import db
from bbx.store import demo as demo_store


class DropError(Exception):
    """A drop folder that a tenant's SFTP client could not hand in as it is."""


def drop_entries(folder: Path) -> list[tuple[str, str, bytes | str]]:
    """What ``put -r folder`` of a tenant's SFTP client sends, in order: ("dir", path, ""),
    ("file", path, content) and ("link", path, target) — sub-folders and symbolic links
    are handed in as what they are (BBX's intake then judges them, as it would for a
    tenant), never flattened or followed."""
    entries: list[tuple[str, str, bytes | str]] = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            entries.append(("link", relative, os.readlink(path)))
        elif path.is_dir():
            entries.append(("dir", relative, ""))
        elif path.is_file():
            entries.append(("file", relative, path.read_bytes()))
        else:
            raise DropError(f"{path}: neither a file, a folder nor a link (a device or pipe cannot be uploaded)")
    return entries


@contextmanager
def tenant_sftp(stack: Stack, tenant_code: str) -> Iterator:
    """A paramiko ``SFTPClient`` logged in with the tenant's own account (chrooted to its
    folder), as the tenant's SFTP client would be."""
    import logging

    import paramiko

    logging.getLogger("paramiko").setLevel(logging.WARNING)
    transport = paramiko.Transport(("127.0.0.1", stack.sftp_port))
    try:
        transport.connect(username=tenant_code, password=stack.tenant_passwords[tenant_code])
        yield paramiko.SFTPClient.from_transport(transport)
    finally:
        transport.close()


def upload(stack: Stack, tenant_code: str, remote_folder: str, entries: list[tuple[str, str, bytes | str]]) -> list[str]:
    """Upload a drop as the tenant would: folders, files, links; the READY marker last,
    and only when the server took everything else (a tenant's client stops at an error).
    Returns what the server refused (e.g. links), as the tenant's client would show it."""
    refused = []
    with tenant_sftp(stack, tenant_code) as sftp:
        makedirs(sftp, remote_folder)
        ordered = sorted(entries, key=lambda e: (e[0] == "file" and e[1].upper().startswith("READY"), e[0] != "dir"))
        for kind, name, content in ordered:
            if refused and kind == "file" and name.upper().startswith("READY"):
                break  # incomplete: never mark it ready
            target = f"{remote_folder}/{name}"
            try:
                if kind == "dir":
                    sftp.mkdir(target)
                elif kind == "link":
                    sftp.symlink(str(content), target)
                else:
                    with sftp.open(target, "wb") as handle:
                        handle.write(content)
            except OSError as exc:
                refused.append(f"{name}: the SFTP server refused the {kind} ({exc})")
    return refused


def makedirs(sftp, path: str) -> None:
    current = ""
    for part in path.strip("/").split("/"):
        current += "/" + part
        try:
            sftp.stat(current)
        except OSError:
            sftp.mkdir(current)


def csv_bytes(rows: list[list[str]], header: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")  # as Excel writes it


def letter_pdf(title: str, body: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 7, body, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def fresh_bsns(admin, oin: str, status: str, count: int, used: set[str]) -> list[str]:
    """``count`` citizens of the simulator's population not handed in before, so that a
    second demo run shows a new delivery (BBX would rightly refuse to send twice)."""
    found = [b for b in admin.sample(oin, status=status, limit=count + len(used)) if b not in used]
    return found[:count]


def sample_drops(stack: Stack, tenants, url: str) -> list[tuple[str, str, str, list]]:
    """(tenant, connection, drop folder, files) per connection: a mix of subscribed and
    not-subscribed citizens, personal texts and PDFs, and a few rows with mistakes."""
    from bbx.domain.bsn import generate

    admin = stack.admin()
    drops = []
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    with db.connect(url) as conn:
        used = demo_store.used_bsns(conn)
    for tenant in tenants:
        for c in tenant.connections:
            subscribed = fresh_bsns(admin, c.oin, "active", 12, used)
            not_subscribed = fresh_bsns(admin, c.oin, "never", 6, used)
            inbox = c.sftp_folder.removeprefix(f"/{tenant.code}") + f"/inbox/demo-{stamp}"
            if c.code == "voorbeeld":
                rows = [[b] for b in subscribed[:8] + not_subscribed[:4]]
                rows += [["123456789"], [subscribed[0]], [subscribed[8][1:] if subscribed[8].startswith("0") else "12345"]]
                files = {"bsns.csv": csv_bytes(rows, ["bsn"]), "READY": b"message_type: PASPRT\ndrop_id: demo-" + stamp.encode() + b"\n"}
            elif c.code == "pf_metaal":
                bsns = subscribed[:6] + not_subscribed[:2]
                files = {"deelnemers.csv": csv_bytes([[b] for b in bsns], ["bsn"])}
                for b in bsns:
                    files[f"{b}_1.pdf"] = letter_pdf("Uniform Pensioenoverzicht 2026", "Uw opgebouwde pensioen per 1 januari 2026.")
                files["READY"] = b"message_type: UPO2026\npdfs_per_bsn: 1\n"
            else:
                rows = [[b, f"Beste deelnemer,\nuw pensioen gaat in op 1-{i + 1}-2027.", "", f"PZ-{i:05d}"]
                        for i, b in enumerate(subscribed[:6] + not_subscribed[:2])]
                rows.append([str(next(generate(1, seed=99))), "x" * 4001, "", ""])  # text too long
                files = {"teksten.csv": csv_bytes(rows, ["bsn", "tekst", "onderwerp", "referentie"]),
                         "READY": b"message_type: UPO2026\n"}
            drops.append((tenant.code, c.code, inbox, [("file", n, b) for n, b in files.items()]))
    admin.close()
    return drops


def own_drop(tenants, folder: Path, connection_code: str) -> list[tuple[str, str, str, list]]:
    if not folder.is_dir():
        raise DropError(f"--drop {folder}: not a folder")
    for tenant in tenants:
        for c in tenant.connections:
            if c.code == connection_code:
                inbox = c.sftp_folder.removeprefix(f"/{tenant.code}") + f"/inbox/{folder.name}"
                return [(tenant.code, c.code, inbox, drop_entries(folder))]
    raise DropError(f"--connection {connection_code!r} is not a connection in the configuration")
