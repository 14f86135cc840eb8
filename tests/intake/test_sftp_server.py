"""The test/demo SFTP server: chroot per tenant, no links, host key and auth enforced."""

import io
import json
import subprocess
import sys
import time

import asyncssh
import paramiko
import pytest
from intake_helpers import TENANT, TENANT_PASSWORD, Tenant

from simulator.sftp_server import SftpServer, SftpUser


def test_tenant_sees_only_its_own_tree(sftp_server):
    (sftp_server.root / "pensioenuitvoerder" / "pf_metaal").mkdir(parents=True)
    (sftp_server.root / "pensioenuitvoerder" / "secret.txt").write_text("other tenant")
    (sftp_server.root / TENANT / "voorbeeld").mkdir(parents=True)
    tenant = Tenant(sftp_server)
    try:
        assert tenant.listdir("/") == ["voorbeeld"]
        assert tenant.listdir("/../..") == ["voorbeeld"]  # '..' cannot climb out of the chroot
        with pytest.raises(FileNotFoundError):
            tenant.sftp.stat("/../pensioenuitvoerder/secret.txt")
        tenant.sftp.putfo(io.BytesIO(b"x"), "/../../escape.txt")  # lands inside the chroot
        assert (sftp_server.root / TENANT / "escape.txt").exists()
        assert not (sftp_server.root.parent / "escape.txt").exists()
        with pytest.raises(PermissionError, match="links are not allowed"):
            tenant.sftp.symlink("/etc/passwd", "/voorbeeld/passwd")
    finally:
        tenant.close()


def test_processing_and_archive_are_read_only_for_tenants(sftp_server):
    from bbx.hooks import tenant_sftp as sftp

    base = sftp_server.root / TENANT / "voorbeeld"
    for folder in ("inbox", "processing", "archive", "outbox"):
        (base / folder).mkdir(parents=True)
    (base / "processing" / "d1").mkdir()
    (base / "processing" / "d1" / "bsns.csv").write_text("123456782\n")
    tenant = Tenant(sftp_server)
    try:
        with tenant.sftp.open("/voorbeeld/processing/d1/bsns.csv", "rb") as handle:
            assert handle.read() == b"123456782\n"  # reading is fine
        for attempt in (
            lambda: tenant.sftp.putfo(io.BytesIO(b"x"), "/voorbeeld/processing/d1/bsns.csv"),
            lambda: tenant.sftp.remove("/voorbeeld/processing/d1/bsns.csv"),
            lambda: tenant.sftp.rename("/voorbeeld/processing/d1", "/voorbeeld/inbox/d1"),
            lambda: tenant.sftp.mkdir("/voorbeeld/archive/x"),
            lambda: tenant.sftp.putfo(io.BytesIO(b"x"), "/voorbeeld/inbox/../archive/x"),
        ):
            with pytest.raises(PermissionError, match="belong to BBX"):
                attempt()
    finally:
        tenant.close()
    with sftp.session() as client:  # BBX itself may
        client.sftp.rename(f"/{TENANT}/voorbeeld/processing/d1", f"/{TENANT}/voorbeeld/archive/d1")


def test_outbox_is_read_and_delete_for_tenants(sftp_server):
    """The drop protocol: the tenant reads BBX's files in outbox/ and may delete them;
    writing, creating, renaming into or out of it and chmod are refused (issue 10 item 6)."""
    base = sftp_server.root / TENANT / "voorbeeld"
    for folder in ("inbox", "processing", "archive", "outbox"):
        (base / folder).mkdir(parents=True)
    (base / "outbox" / "d1.s1.results.csv").write_bytes(b"regel;bsn\r\n")
    (base / "outbox" / "d1.s1.ack.json").write_bytes(b"{}")
    (base / "inbox" / "d2").mkdir()
    (base / "inbox" / "d2" / "bsns.csv").write_bytes(b"123456782\n")
    tenant = Tenant(sftp_server)
    sftp = tenant.sftp
    results = "/voorbeeld/outbox/d1.s1.results.csv"
    try:
        assert sorted(sftp.listdir("/voorbeeld/outbox")) == ["d1.s1.ack.json", "d1.s1.results.csv"]
        with sftp.open(results, "rb") as handle:
            assert handle.read() == b"regel;bsn\r\n"
            with pytest.raises(PermissionError, match="belongs to BBX"):
                handle.chmod(0o666)  # fsetstat on a handle opened for reading
        for attempt in (
            lambda: sftp.putfo(io.BytesIO(b"x"), "/voorbeeld/outbox/new.csv"),  # create
            lambda: sftp.open(results, "ab").write(b"x"),  # append
            lambda: sftp.open(results, "r+").write(b"x"),  # overwrite in place
            lambda: sftp.chmod(results, 0o666),
            lambda: sftp.chmod("/voorbeeld/outbox", 0o777),
            lambda: sftp.utime(results, (0, 0)),
            lambda: sftp.truncate(results, 0),
            lambda: sftp.rename("/voorbeeld/inbox/d2/bsns.csv", "/voorbeeld/outbox/bsns.csv"),  # rename into
            lambda: sftp.posix_rename("/voorbeeld/inbox/d2/bsns.csv", "/voorbeeld/outbox/bsns.csv"),
            lambda: sftp.rename(results, "/voorbeeld/inbox/d2/results.csv"),  # out of it
            lambda: sftp.rename(results, "/voorbeeld/outbox/renamed.csv"),
            lambda: sftp.mkdir("/voorbeeld/outbox/sub"),
            lambda: sftp.rmdir("/voorbeeld/outbox"),
            lambda: sftp.putfo(io.BytesIO(b"x"), "/voorbeeld/inbox/../outbox/sneaky.csv"),
        ):
            with pytest.raises(PermissionError, match="belongs to BBX"):
                attempt()
        assert (base / "outbox" / "d1.s1.results.csv").read_bytes() == b"regel;bsn\r\n"
        assert oct((base / "outbox" / "d1.s1.results.csv").stat().st_mode & 0o777) != "0o666"
        assert sorted(p.name for p in (base / "outbox").iterdir()) == ["d1.s1.ack.json", "d1.s1.results.csv"]
        # deleting is the tenant's right (tidying up after picking files up)
        sftp.remove(results)
        assert sftp.listdir("/voorbeeld/outbox") == ["d1.s1.ack.json"]
        # inbox/ stays writable, also for a drop that happens to be called "outbox"
        sftp.mkdir("/voorbeeld/inbox/outbox")
        sftp.putfo(io.BytesIO(b"123456782\n"), "/voorbeeld/inbox/outbox/bsns.csv")
        sftp.chmod("/voorbeeld/inbox/outbox/bsns.csv", 0o640)
        sftp.rename("/voorbeeld/inbox/d2/bsns.csv", "/voorbeeld/inbox/d2/list.csv")
    finally:
        tenant.close()
    # BBX's own account writes there as before
    gateway = Tenant(sftp_server, user="bbx", password="bbx-secret")
    try:
        gateway.sftp.putfo(io.BytesIO(b"x"), f"/{TENANT}/voorbeeld/outbox/new.ack.json")
        gateway.sftp.chmod(f"/{TENANT}/voorbeeld/outbox/new.ack.json", 0o640)
    finally:
        gateway.close()


def test_gateway_user_sees_every_tenant(sftp_server):
    from bbx.hooks import tenant_sftp as sftp

    (sftp_server.root / TENANT / "voorbeeld").mkdir(parents=True)
    with sftp.session() as client:
        assert sorted(client.sftp.listdir("/")) == ["gemeente-voorbeeld", "pensioenuitvoerder"]


def test_wrong_password_and_unknown_user_are_refused(sftp_server):
    with pytest.raises(paramiko.AuthenticationException):
        Tenant(sftp_server, password="wrong")
    with pytest.raises(paramiko.AuthenticationException):
        Tenant(sftp_server, user="nobody", password=TENANT_PASSWORD)


def test_public_key_login(tmp_path):
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(tmp_path / "id_ed25519"))
    public = key.export_public_key().decode()
    with SftpServer(tmp_path / "root", [SftpUser.tenant("t1", authorized_keys=[public])]) as server:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect(server.host, port=server.port, username="t1", key_filename=str(tmp_path / "id_ed25519"),
                       look_for_keys=False, allow_agent=False)
        assert client.open_sftp().listdir("/") == []
        client.close()


def test_airflow_connection_checks_the_host_key(sftp_server, tmp_path, monkeypatch):
    from bbx.hooks import tenant_sftp as sftp

    impostor = SftpServer(tmp_path / "impostor", [SftpUser("bbx", password="bbx-secret")], port=0).start()
    try:
        # the connection carries the real server's key, but points at the impostor
        connection = {**sftp_server.airflow_connection("bbx"), "port": impostor.port}
        monkeypatch.setenv("BBX_SFTP_CONNECT_ATTEMPTS", "1")
        monkeypatch.setenv("AIRFLOW_CONN_BBX_SFTP", json.dumps(connection))
        with pytest.raises(paramiko.BadHostKeyException):
            with sftp.session():
                pass
    finally:
        impostor.stop()


def test_runs_as_a_command_for_the_demo(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator.sftp_server", "--root", str(tmp_path / "root"), "--port", "0",
         "--user", "bbx:pw", "--user", f"{TENANT}:tpw:/{TENANT}", "--connection-file", str(tmp_path / "conn.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "conn.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        connection = json.loads((tmp_path / "conn.json").read_text())
        assert connection["login"] == "bbx" and connection["extra"]["host_key"].startswith("ssh-ed25519 ")
        assert (tmp_path / "root" / TENANT).is_dir()
        transport = paramiko.Transport(("127.0.0.1", connection["port"]))
        transport.connect(username=TENANT, password="tpw")
        assert paramiko.SFTPClient.from_transport(transport).listdir("/") == []
        transport.close()
    finally:
        process.terminate()
        process.wait(10)
