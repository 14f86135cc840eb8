"""A small, real SFTP server (asyncssh) with a chroot per user: tests and the demo.

Production runs OpenSSH with ``ChrootDirectory`` per tenant; this server behaves the
same way for what BBX relies on:

- user ``bbx`` (the gateway) sees the whole root; each tenant user sees only
  ``/<tenant code>/`` as its ``/`` (chroot), so tenants never see each other;
- password and/or public-key authentication per user;
- a host key generated at start (or loaded from ``--host-key-file``), so clients can
  and must check it (the Airflow connection carries it in ``extra.host_key``);
- SFTP only: no shell, no exec, no SCP, no port forwarding; no symbolic or hard links
  (a link could point outside a chroot);
- ``processing/`` and ``archive/`` are read-only for tenants (they belong to BBX), and
  ``outbox/`` is read-and-delete (no writing, creating, renaming into or out of it, no
  ``chmod``), as the production OpenSSH set-up does with ownership, modes and
  ``internal-sftp -P`` (``docs/drop-protocol.md``).

Run it for the demo::

    python -m simulator.sftp_server --root data/sftp --port 2222 \\
        --user bbx:secret --user gemeente-voorbeeld:tenant-secret:/gemeente-voorbeeld

It prints the host key and the ``AIRFLOW_CONN_BBX_SFTP`` value for the first user.
From tests, start it in a background thread::

    server = SftpServer(root, [SftpUser("bbx", password="x")]).start()
    ... server.port, server.host_key_line, server.airflow_connection("bbx") ...
    server.stop()

Over ~400 lines on purpose: one whole server (accounts, chroot, SFTP operations,
command line) that tests start with one import.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import posixpath
import signal
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

log = logging.getLogger("simulator.sftp")


@dataclass(frozen=True)
class SftpUser:
    """One account. ``home`` is the user's chroot, relative to the server root."""

    name: str
    password: str | None = None
    authorized_keys: tuple[str, ...] = field(default_factory=tuple)  # OpenSSH public key lines
    home: str = "/"

    @classmethod
    def tenant(
        cls, code: str, password: str | None = None, authorized_keys: Iterable[str] = ()
    ) -> SftpUser:
        """A tenant account: chroot ``/<code>/``."""
        return cls(code, password, tuple(authorized_keys), f"/{code}")

    @classmethod
    def parse(cls, spec: str) -> SftpUser:
        """``name:password[:home]`` (command line form)."""
        parts = spec.split(":", 2)
        if len(parts) < 2 or not parts[0]:
            raise ValueError(f"user {spec!r}: write it as name:password or name:password:/home")
        return cls(parts[0], parts[1] or None, (), parts[2] if len(parts) == 3 else "/")


#: Folders that belong to BBX. ``processing/`` and ``archive/``: a tenant may read them
#: but change nothing. ``outbox/``: a tenant may read and delete what BBX put there, but
#: not write, create, rename into or out of it, or change modes (the drop protocol).
READ_ONLY_FOR_TENANTS = (b"processing", b"archive")
READ_AND_DELETE_FOR_TENANTS = (b"outbox",)
_AREAS = (b"inbox", *READ_ONLY_FOR_TENANTS, *READ_AND_DELETE_FOR_TENANTS)
_WRITE_FLAGS = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC | asyncssh.FXF_APPEND
_WRITE_ACCESS = asyncssh.ACE4_WRITE_DATA | asyncssh.ACE4_APPEND_DATA | asyncssh.ACE4_WRITE_ATTRIBUTES


def _area(path: bytes) -> bytes | None:
    """The connection folder area a path is in: the first of inbox/, processing/,
    archive/, outbox/ on the way (a drop folder ``inbox/outbox/`` is in inbox/)."""
    for part in posixpath.normpath(posixpath.join(b"/", path)).split(b"/"):
        if part in _AREAS:
            return part
    return None


class _ChrootSftp(asyncssh.SFTPServer):
    """SFTP with the user's chroot; links refused (they could escape the chroot); for
    tenants (users with a home below the root) processing/ and archive/ are read-only
    and outbox/ is read-and-delete. Handles opened there cannot change modes either."""

    def __init__(self, chan: asyncssh.SSHServerChannel, homes: dict[str, Path], root: Path):
        user = chan.get_extra_info("username")
        self._tenant = homes[user] != root
        self._guarded: dict[int, object] = {}  # handles opened in BBX's folders
        super().__init__(chan, chroot=str(homes[user]).encode())

    def _check_writable(self, *paths: bytes, delete: bool = False) -> None:
        """Refuse a change in BBX's folders; ``delete``: removing a file, which outbox/ allows."""
        if not self._tenant:
            return
        for path in paths:
            area = _area(path)
            if area in READ_ONLY_FOR_TENANTS:
                raise asyncssh.SFTPPermissionDenied("processing/ and archive/ belong to BBX: read only")
            if area in READ_AND_DELETE_FOR_TENANTS and not delete:
                raise asyncssh.SFTPPermissionDenied(
                    "outbox/ belongs to BBX: you may read and delete its files, not write or change them")

    def _guard(self, path: bytes, file_obj):
        if self._tenant and _area(path) in (*READ_ONLY_FOR_TENANTS, *READ_AND_DELETE_FOR_TENANTS):
            self._guarded[id(file_obj)] = file_obj
        return file_obj

    def open(self, path: bytes, pflags: int, attrs):
        if pflags & _WRITE_FLAGS:
            self._check_writable(path)
        return self._guard(path, super().open(path, pflags, attrs))

    def open56(self, path: bytes, desired_access: int, flags: int, attrs):
        disposition = flags & asyncssh.FXF_ACCESS_DISPOSITION
        if desired_access & _WRITE_ACCESS or disposition != asyncssh.FXF_OPEN_EXISTING:
            self._check_writable(path)
        return self._guard(path, super().open56(path, desired_access, flags, attrs))

    def close(self, file_obj):
        self._guarded.pop(id(file_obj), None)
        return super().close(file_obj)

    def fsetstat(self, file_obj, attrs):
        if id(file_obj) in self._guarded:
            raise asyncssh.SFTPPermissionDenied("this file belongs to BBX: its attributes cannot be changed")
        return super().fsetstat(file_obj, attrs)

    def remove(self, path: bytes):
        self._check_writable(path, delete=True)
        return super().remove(path)

    def rename(self, oldpath: bytes, newpath: bytes):
        self._check_writable(oldpath, newpath)
        return super().rename(oldpath, newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes):
        self._check_writable(oldpath, newpath)
        return super().posix_rename(oldpath, newpath)

    def mkdir(self, path: bytes, attrs):
        self._check_writable(path)
        return super().mkdir(path, attrs)

    def rmdir(self, path: bytes):
        self._check_writable(path)
        return super().rmdir(path)

    def setstat(self, path: bytes, attrs):
        self._check_writable(path)
        return super().setstat(path, attrs)

    def lsetstat(self, path: bytes, attrs):
        self._check_writable(path)
        return super().lsetstat(path, attrs)

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("links are not allowed on this server")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("links are not allowed on this server")


class _Auth(asyncssh.SSHServer):
    def __init__(self, users: dict[str, SftpUser], live: set):
        self._users = users
        self._live = live
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._live.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self._live.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        user = self._users.get(username)
        if user and user.authorized_keys and self._conn is not None:
            self._conn.set_authorized_keys(
                asyncssh.import_authorized_keys("\n".join(user.authorized_keys))
            )
        return True  # always require authentication (unknown users simply fail)

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        user = self._users.get(username)
        return bool(user and user.password is not None and password == user.password)

    def public_key_auth_supported(self) -> bool:
        return True


class SftpServer:
    """The server, run on its own event loop in a background thread."""

    def __init__(
        self,
        root: Path,
        users: Iterable[SftpUser],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        host_key_file: Path | None = None,
    ):
        self.root = Path(root).resolve()
        self.users = {u.name: u for u in users}
        if not self.users:
            raise ValueError("give at least one user")
        self.host = host
        self._requested_port = port
        self._host_key = self._load_or_generate_key(host_key_file)
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncssh.SSHAcceptor | None = None
        self._homes: dict[str, Path] = {}
        self._live: set = set()
        for user in self.users.values():
            home = (self.root / user.home.strip("/")).resolve()
            if home != self.root and self.root not in home.parents:
                raise ValueError(f"user {user.name}: home {user.home!r} is outside the root")
            home.mkdir(parents=True, exist_ok=True)
            self._homes[user.name] = home

    @staticmethod
    def _load_or_generate_key(path: Path | None) -> asyncssh.SSHKey:
        if path is not None and Path(path).exists():
            return asyncssh.read_private_key(str(path))
        key = asyncssh.generate_private_key("ssh-ed25519")
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            key.write_private_key(str(path))
            Path(path).chmod(0o600)
        return key

    # ------------------------------------------------------------------ facts for clients
    @property
    def host_key_line(self) -> str:
        """The public host key as ``ssh-ed25519 AAAA...`` (for ``extra.host_key``)."""
        return " ".join(self._host_key.export_public_key("openssh").decode().split()[:2])

    @property
    def known_hosts_line(self) -> str:
        host = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{host} {self.host_key_line}"

    def airflow_connection(self, user: str = "bbx") -> dict:
        """The Airflow connection (JSON form) for ``user``, host-key checking on."""
        account = self.users[user]
        return {
            "conn_type": "sftp",
            "host": self.host,
            "port": self.port,
            "login": account.name,
            "password": account.password,
            "extra": {
                "host_key": self.host_key_line,
                "no_host_key_check": False,
                "look_for_keys": False,
                "allow_host_key_change": False,
            },
        }

    # ------------------------------------------------------------------ life cycle
    async def _serve(self) -> None:
        self._server = await asyncssh.create_server(
            lambda: _Auth(self.users, self._live),
            self.host,
            self._requested_port,
            server_host_keys=[self._host_key],
            sftp_factory=lambda chan: _ChrootSftp(chan, self._homes, self.root),
            allow_scp=False,
            process_factory=None,
            session_factory=None,
            line_editor=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_pty=False,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> SftpServer:
        """Start in a background thread; returns when the server accepts connections."""
        logging.getLogger("asyncssh").setLevel(logging.WARNING)  # one line per packet otherwise
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # report start-up failures to the caller
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="sftp-server", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise RuntimeError(f"SFTP server did not start: {failure[0]}") from failure[0]
        log.info("SFTP server on %s:%s (root %s)", self.host, self.port, self.root)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            for conn in list(self._live):
                conn.close()
                await conn.wait_closed()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> SftpServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.sftp_server",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--root", required=True, type=Path, help="folder served as the SFTP root")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2222, help="0 = any free port")
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME:PASSWORD[:/HOME]",
        help="an account; HOME is its chroot below the root (default /). Repeatable.",
    )
    parser.add_argument(
        "--authorized-key",
        action="append",
        default=[],
        metavar="NAME:PUBKEY_FILE",
        help="allow public-key login for NAME with the key(s) in PUBKEY_FILE. Repeatable.",
    )
    parser.add_argument(
        "--host-key-file", type=Path, help="keep the host key here (generated when missing)"
    )
    parser.add_argument(
        "--connection-file",
        type=Path,
        help="write the Airflow connection JSON of the first user to this file",
    )
    args = parser.parse_args(argv)

    users = {u.name: u for u in map(SftpUser.parse, args.user or ["bbx:bbx"])}
    for spec in args.authorized_key:
        name, _, key_file = spec.partition(":")
        if name not in users:
            users[name] = SftpUser(name, None, (), "/")
        keys = tuple(line for line in Path(key_file).read_text().splitlines() if line.strip())
        users[name] = SftpUser(
            name, users[name].password, users[name].authorized_keys + keys, users[name].home
        )

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = SftpServer(
        args.root, users.values(), host=args.host, port=args.port, host_key_file=args.host_key_file
    ).start()
    first = next(iter(users))
    connection = json.dumps(server.airflow_connection(first))
    print(f"SFTP server on {server.host}:{server.port}, root {server.root}", flush=True)
    print(f"host key: {server.host_key_line}", flush=True)
    print(f"AIRFLOW_CONN_BBX_SFTP='{connection}'", flush=True)
    if args.connection_file:
        args.connection_file.write_text(connection + "\n")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
