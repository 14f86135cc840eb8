"""``make demo DROP=folder`` hands in exactly what a tenant's SFTP client would: sub-folders
as sub-folders (intake then refuses them, as ``bbx intake check`` does), links as links
(the server refuses them, so the drop is never marked READY), over a real SFTP server."""

from types import SimpleNamespace

from bbx import demo
from simulator.sftp_server import SftpServer, SftpUser


def _folder(tmp_path):
    drop = tmp_path / "mijn-drop"
    (drop / "extra").mkdir(parents=True)
    (drop / "bsns.csv").write_bytes(b"bsn\r\n123456782\r\n")
    (drop / "extra" / "verborgen.csv").write_bytes(b"bsn\r\n111222333\r\n")
    (drop / "READY").write_bytes(b"message_type: PASPRT\n")
    return drop


def test_entries_keep_sub_folders_and_links_as_they_are(tmp_path):
    drop = _folder(tmp_path)
    outside = tmp_path / "elders.csv"
    outside.write_bytes(b"bsn\r\n999999990\r\n")
    (drop / "link.csv").symlink_to(outside)
    entries = {(kind, name) for kind, name, _ in demo.drop_entries(drop)}
    assert entries == {("file", "bsns.csv"), ("dir", "extra"), ("file", "extra/verborgen.csv"),
                       ("file", "READY"), ("link", "link.csv")}
    link = next(c for k, n, c in demo.drop_entries(drop) if k == "link")
    assert link == str(outside)  # the link itself, never the target's content


def test_sub_folder_is_uploaded_as_a_sub_folder_with_the_marker_last(tmp_path):
    drop = _folder(tmp_path)
    root = tmp_path / "sftp"
    with SftpServer(root, [SftpUser.tenant("t1", "pw")]) as server:
        stack = SimpleNamespace(sftp_port=server.port, tenant_passwords={"t1": "pw"})
        refused = demo.upload(stack, "t1", "/c1/inbox/mijn-drop", demo.drop_entries(drop))
    assert refused == []
    landed = root / "t1" / "c1" / "inbox" / "mijn-drop"
    assert (landed / "extra" / "verborgen.csv").read_bytes() == b"bsn\r\n111222333\r\n"
    assert (landed / "READY").exists()


def test_a_link_is_refused_by_the_server_and_the_drop_is_not_marked_ready(tmp_path):
    drop = _folder(tmp_path)
    (drop / "link.csv").symlink_to(drop / "bsns.csv")
    root = tmp_path / "sftp"
    with SftpServer(root, [SftpUser.tenant("t1", "pw")]) as server:
        stack = SimpleNamespace(sftp_port=server.port, tenant_passwords={"t1": "pw"})
        refused = demo.upload(stack, "t1", "/c1/inbox/mijn-drop", demo.drop_entries(drop))
    assert len(refused) == 1 and refused[0].startswith("link.csv: the SFTP server refused the link")
    landed = root / "t1" / "c1" / "inbox" / "mijn-drop"
    assert not (landed / "READY").exists() and not (landed / "link.csv").is_symlink()


def test_exit_codes_are_distinct_and_documented():
    codes = {demo.EXIT_OK, demo.EXIT_FAILED, demo.EXIT_USAGE, demo.EXIT_REJECTED}
    assert len(codes) == 4
    assert "3 ``--drop``" in demo.__doc__ and "1 BBX or the platform failed" in demo.__doc__
