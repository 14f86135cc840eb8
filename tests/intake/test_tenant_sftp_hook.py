"""bbx.hooks.tenant_sftp: the provider's SFTPHook with a connection's folder tree, over
the real test SFTP server."""

import hashlib
import logging

import pytest
from intake_helpers import TENANT


def test_one_session_of_the_providers_hook_for_every_folder_operation(sftp_server):
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    from bbx.hooks.tenant_sftp import session

    with session() as hook:
        assert isinstance(hook, SFTPHook)
        client = hook.sftp
        folders = hook.folders(f"/{TENANT}/voorbeeld")
        created = folders.ensure_tree()
        assert f"/{TENANT}/voorbeeld/inbox" in created and f"/{TENANT}/voorbeeld/outbox" in created
        assert folders.ensure_tree() == []
        folders.upload(b"first", "outbox", "a.csv")
        folders.upload(b"second", "outbox", "a.csv")  # replaces, atomically
        assert [e.name for e in folders.list("outbox")] == ["a.csv"]  # no .part left behind
        assert folders.read_bytes("outbox", "a.csv") == b"second"
        assert folders.hash_file("outbox", "a.csv") == (6, hashlib.sha256(b"second").hexdigest())
        folders.remove("outbox", "a.csv")
        assert not folders.exists("outbox", "a.csv")
        assert folders.list("no-such-folder") == []
        # every provider helper called above ran on the session opened here
        assert hook.sftp is client and hook.get_conn_count() == 1
    assert hook.get_conn_count() == 0
    with pytest.raises(RuntimeError, match="no SFTP session"):
        _ = hook.sftp


def test_reading_a_drop_never_logs_its_file_names(sftp_server, tmp_path, caplog, capfd):
    """A personal PDF is named after the citizen's BSN: the provider's retrieve_file
    would log that path at INFO (what a task log keeps), so the hook reads with the
    session's getfo. (paramiko itself names paths at DEBUG, which BBX does not enable.)"""
    from bbx.hooks.tenant_sftp import session

    drop = sftp_server.root / TENANT / "voorbeeld" / "processing" / "d1"
    drop.mkdir(parents=True)
    (drop / "123456782_1.pdf").write_bytes(b"%PDF-1.7 x")
    caplog.set_level(logging.INFO)
    capfd.readouterr()
    with session() as hook:
        folders = hook.folders(f"/{TENANT}/voorbeeld")
        folders.hash_file("processing", "d1", "123456782_1.pdf")
        folders.download(tmp_path / "copy.pdf", "processing", "d1", "123456782_1.pdf")
        folders.remove_tree("processing", "d1")
    assert (tmp_path / "copy.pdf").read_bytes() == b"%PDF-1.7 x"
    assert not drop.exists()
    printed = capfd.readouterr()  # the hooks' own log is structlog, printed
    assert "123456782" not in caplog.text + printed.out + printed.err


def test_the_hook_keeps_its_own_settings_and_imports_no_channel_module(sftp_server, monkeypatch):
    """The SFTP connection's settings are the hook's (hooks own their protocol; a hook that
    imported ``bbx.intake`` would pull intake into delivery and the register export)."""
    import ast
    from pathlib import Path

    from bbx.hooks import tenant_sftp

    monkeypatch.setenv("BBX_SFTP_CONNECT_ATTEMPTS", "2")
    hook = tenant_sftp.TenantSFTPHook()
    assert (hook.ssh_conn_id, hook.conn_retry_attempts) == ("bbx_sftp", 2)
    base = f"/{TENANT}/voorbeeld"
    with hook.session():  # the gateway connection works with them: the connection's tree
        hook.folders(base).ensure_tree()
        assert sorted(hook.sftp.listdir(base)) == sorted(tenant_sftp.FOLDERS)
    imported = set()
    for node in ast.walk(ast.parse(Path(tenant_sftp.__file__).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert not {m for m in imported if m.split(".")[:2] in (["bbx", "intake"], ["bbx", "delivery"],
                                                            ["bbx", "api"], ["bbx", "register"])}, imported
