"""A throwaway PostgreSQL server for the test session.

`start_server(tag)` either uses the server named by `MOTCUA_TEST_POSTGRES_URL` or starts a private cluster
from the installed binaries (PATH, then the newest `/usr/lib/postgresql/*/bin`): initdb into a temp dir,
listen on 127.0.0.1 and a free port, durability switched off (the data is thrown away). Each pytest-xdist
worker starts its own cluster, so workers never share a database. As root, the server runs as the
`postgres` user (or a dedicated `motcua-pg` system user), because PostgreSQL refuses to run as root.

`PgServer` creates, empties (`clear_database`: TRUNCATE of every table) and drops databases on it.
`start_server` raises `PostgresUnavailable` when there is neither a URL nor any binaries; the caller decides
whether that is a skip (a developer machine) or a failure (CI).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

URL_ENV = "MOTCUA_TEST_POSTGRES_URL"
SERVICE_USER = "motcua-pg"
SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200"
)


class PostgresUnavailable(Exception):
    """No PostgreSQL server can be used: the message says why and how to get one."""


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: PATH first, then the newest Debian install."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    debian = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(debian, key=lambda p: _version_key(p.parent.name), reverse=True)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def describe() -> str:
    """One line for the pytest header: which PostgreSQL the PostgreSQL tests will use."""
    if os.environ.get(URL_ENV):
        return f"postgresql: server from {URL_ENV}"
    bindir = find_bindir()
    if bindir:
        return f"postgresql: throwaway cluster per worker from {bindir}"
    return f"postgresql: NOT AVAILABLE (install Debian's postgresql package or set {URL_ENV})"


# Empties every table of the public schema in one round trip. Other sessions still connected to the
# database (a test that forgot to dispose its engine) are ended first, so TRUNCATE never waits on their locks.
_CLEAR_DATABASE = """
DO $$
DECLARE tables text;
BEGIN
    PERFORM pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid();
    SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') INTO tables
        FROM pg_tables WHERE schemaname = 'public';
    IF tables IS NOT NULL THEN
        EXECUTE 'TRUNCATE ' || tables || ' RESTART IDENTITY CASCADE';
    END IF;
END $$
"""


@dataclass
class PgServer:
    """A PostgreSQL server the session may create, empty and drop databases on."""

    admin_url: URL
    cluster: _Cluster | None = None
    name_prefix: str = field(default_factory=lambda: f"motcua_{secrets.token_hex(3)}")
    _connections: dict[str, psycopg.Connection[tuple[object, ...]]] = field(default_factory=dict)

    def url(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of one database on this server."""
        return self.admin_url.set(database=database).render_as_string(hide_password=False)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database `name` (a copy of `template` if given: it must have no open connection)."""
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self._execute(query)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        if name in self._connections:
            self._connections.pop(name).close()
        self._execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def clear_database(self, name: str) -> None:
        """Empty every table of database `name` and restart its sequences (the schema stays)."""
        self._execute(sql.SQL(_CLEAR_DATABASE), database=name)

    def stop(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()
        if self.cluster is not None:
            self.cluster.stop()

    def _execute(self, query: sql.Composable, database: str | None = None) -> None:
        database = database or str(self.admin_url.database)
        connection = self._connections.get(database)
        if connection is None or connection.closed:
            url = self.admin_url.set(drivername="postgresql", database=database)
            connection = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
            self._connections[database] = connection
        connection.execute(query)


def start_server(tag: str) -> PgServer:
    """The server for this session (worker `tag`): the one named by the environment, or a new cluster."""
    prefix = f"motcua_{re.sub(r'[^a-z0-9]', '', tag.lower())}_{secrets.token_hex(3)}"
    external = os.environ.get(URL_ENV)
    if external:
        url = make_url(external).set(drivername="postgresql+psycopg")
        return PgServer(admin_url=url, name_prefix=prefix)
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "PostgreSQL not found (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin) and "
            f"{URL_ENV} is not set: install Debian's `postgresql` package or point {URL_ENV} at a server"
        )
    cluster = _Cluster.start(bindir)
    url = URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=cluster.port)
    return PgServer(admin_url=url.set(database="postgres"), cluster=cluster, name_prefix=prefix)


@dataclass
class _Cluster:
    """A private PostgreSQL cluster in a temp dir; `stop()` shuts it down and deletes every file."""

    bindir: Path
    root: Path
    user: str | None  # the user the server runs as, when we are root (PostgreSQL refuses to run as root)
    port: int = 0
    stopped: bool = False

    @classmethod
    def start(cls, bindir: Path, attempts: int = 5) -> _Cluster:
        user = _server_user()
        # As root, the server's user must reach the dir: /tmp rather than a TMPDIR that may be root-only.
        root = Path(tempfile.mkdtemp(prefix="motcua-pg-", dir="/tmp" if user else None))
        cluster = cls(bindir=bindir, root=root, user=user)
        atexit.register(cluster.stop)
        try:
            if user:
                shutil.chown(root, user=user)
            cluster._initdb()
            for _ in range(attempts):  # another process may grab the free port first: try another
                cluster.port = _free_port()
                if cluster._pg_ctl_start():
                    break
            else:
                raise RuntimeError(f"PostgreSQL did not start:\n{cluster._log_tail()}")
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if (self.datadir / "postmaster.pid").exists():
            self._pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def _initdb(self) -> None:
        base = ["initdb", "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "-E", "UTF8"]
        done = self._run(*base, "--locale=C.UTF-8", check=False)
        if done.returncode != 0:  # a system without the C.UTF-8 locale
            shutil.rmtree(self.datadir, ignore_errors=True)
            self._run(*base, "--no-locale")

    def _pg_ctl_start(self) -> bool:
        options = f"-F -k {self.root} -p {self.port} {SERVER_OPTIONS}"
        return self._pg_ctl("-l", str(self.root / "server.log"), "-w", "-t", "60", "-o", options, "start")

    def _pg_ctl(self, *args: str) -> bool:
        return self._run("pg_ctl", "-D", str(self.datadir), *args, check=False).returncode == 0

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.root / "server.log").read_text(errors="replace").splitlines()[-20:])
        return "(no server log)"

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        run_as = ["runuser", "-u", self.user, "--"] if self.user else []
        command = [*run_as, str(self.bindir / tool), *args]
        # A new session keeps Ctrl-C away from the server; the session teardown stops it instead.
        done = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, start_new_session=True, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done


def _server_user() -> str | None:
    """As root: `postgres` (Debian's package creates it) or our own system user, created if missing."""
    if os.geteuid() != 0:
        return None
    for user in ("postgres", SERVICE_USER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(user).pw_name
    subprocess.run(["useradd", "--system", "--no-create-home", SERVICE_USER], check=True)
    return SERVICE_USER


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)
