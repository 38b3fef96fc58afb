"""A real PostgreSQL server for the ledger tests.

``initdb`` and ``pg_ctl`` (on the PATH) make a cluster in a temporary folder and start it on a
free loopback port, TCP only, with password (SCRAM) authentication; as root they run as the
``postgres`` system user. One server serves the whole test session; each test gets a fresh
database. Where the binaries, psycopg or the user are missing, the tests skip and say why.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "nature"
PASSWORD = f"pw-{secrets.token_hex(8)}"
"""The superuser's password: the tests look for it in every message and file."""

SERVER_SETTINGS = ("-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=40")
"""Durability off: a test cluster is thrown away."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unavailable_reason() -> str | None:
    """Why no server can be started here, or None."""
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if shutil.which(name) is None]
    if missing:
        return f"PostgreSQL server binaries not on the PATH: {', '.join(missing)}"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return 'psycopg is not installed: pip install "nature-callback[postgres]"'
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser (initdb refuses root)"
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


class PostgresServer:
    """A throw-away cluster: ``start()``, ``new_database()``, ``url()``, ``stop()``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="nature-pg-"))
        self.port = free_port()
        self._databases = 0

    def _as_server_user(self, *argv: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=60)

    def start(self) -> None:
        password_file = self.root / "password"
        password_file.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(password_file, "postgres")
        steps = [
            ("initdb", "-D", str(self.root / "data"), "-U", USER, f"--pwfile={password_file}",
             "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8",
             "--locale=C"),
            ("pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "server.log"), "-w",
             "-t", "30", "-o", f"-p {self.port} -k {self.root} {SERVER_SETTINGS}", "start"),
        ]
        for argv in steps:
            done = self._as_server_user(*argv)
            if done.returncode != 0:
                log = self.root / "server.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"{argv[0]} failed: {done.stderr[-2000:]} {tail}")
        password_file.unlink()

    def stop(self) -> None:
        self._as_server_user("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w",
                             "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        """A URL to ``database``, with the password in it or (``password=False``) without."""
        user = f"{USER}:{PASSWORD}" if password else USER
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database's name."""
        import psycopg

        self._databases += 1
        name = f"ledger_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return name


_SERVER: PostgresServer | None = None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's server, started on first use (shared by every module that imports this
    fixture), stopped at the end of the session."""
    global _SERVER
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    owner = _SERVER is None
    if _SERVER is None:
        server = PostgresServer()
        try:
            server.start()
        except BaseException:
            server.stop()
            raise
        _SERVER = server
    yield _SERVER
    if owner:
        _SERVER.stop()
        _SERVER = None


@pytest.fixture()
def postgres_url(postgres_server: PostgresServer) -> str:
    """A URL (password included) to a fresh database of the session's server."""
    return postgres_server.url(postgres_server.new_database())
