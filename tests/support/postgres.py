"""A real PostgreSQL server for tests and benchmarks, started from the machine's binaries.

It runs on a private port and data directory and is stopped at the end. When the
binaries are missing and we are root on Debian, Debian's `postgresql` is installed.
initdb refuses to run as root, so as root the server runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection

SUPERUSER = "postgres"


def _bin_dir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise FileNotFoundError("no PostgreSQL server binaries (initdb) found")


def _version_key(path: str) -> int:
    version = Path(path).parent.name
    return int(version) if version.isdigit() else 0


def ensure_binaries() -> Path:
    """Find initdb/pg_ctl, installing Debian's postgresql when missing and allowed."""
    try:
        return _bin_dir()
    except FileNotFoundError:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise RuntimeError(
                "PostgreSQL server binaries not found: install them (Debian: apt-get install postgresql)"
            ) from None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True, env=env)
    return _bin_dir()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Role:
    name: str
    password: str


class PostgresServer:
    """One throwaway server: superuser over the Unix socket (trust), roles over TCP (scram)."""

    def __init__(self, root: Path | None = None) -> None:
        self.bin = ensure_binaries()
        self.root = Path(root or tempfile.mkdtemp(prefix="simple-etl-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.port = free_port()
        self.host = "127.0.0.1"
        self._as_postgres = os.geteuid() == 0

    # -- process control -------------------------------------------------------------
    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def init(self) -> PostgresServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth-local=trust",
            "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '{self.host}'\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "max_connections = 100\nshared_buffers = 128MB\n"
                # Durability stays on (fsync): benchmarks must measure the real cost.
                "log_min_messages = warning\n"
            )
        return self

    def start(self) -> PostgresServer:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- connections -----------------------------------------------------------------
    def connect(self, dbname: str = "postgres", role: Role | None = None) -> connection:
        if role is None:
            conn = psycopg2.connect(host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname=dbname)
        else:
            conn = psycopg2.connect(
                host=self.host, port=self.port, user=role.name, password=role.password, dbname=dbname
            )
        return conn

    def execute(self, statement: str | sql.Composable, dbname: str = "postgres") -> None:
        conn = self.connect(dbname)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def create_role(self, name: str) -> Role:
        role = Role(name, secrets.token_urlsafe(18))
        self.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(role.password)
            )
        )
        return role

    def libpq_env(self, dbname: str, role: Role) -> dict[str, str]:
        """The PG* variables a client process (the ETL CLI) is configured with."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGDATABASE": dbname,
            "PGUSER": role.name,
            "PGPASSWORD": role.password,
            "PGSSLMODE": "disable",
            "PGCONNECT_TIMEOUT": "5",
        }

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.connect().close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@contextmanager
def running_server() -> Iterator[PostgresServer]:
    server = PostgresServer().init().start()
    try:
        yield server
    finally:
        server.destroy()


def environ_without_libpq(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment minus PG*/SIMPLE_ETL_* so tests start from a clean slate."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SIMPLE_ETL_"))}
    env.update(extra or {})
    return env
