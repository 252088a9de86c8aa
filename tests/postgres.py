"""A private PostgreSQL cluster for the tests, never the system's own (port 5432).

One cluster per test session, shared by the pytest-xdist workers: the first worker to need it
starts it (under a file lock), the last one done stops it and removes its files. Each test gets a
database of its own, dropped afterwards. The cluster listens on 127.0.0.1 only, on a free port;
`postgres` connects without a password (trust), while the role `tsq_secret` must give one over
TCP (scram-sha-256), so wrong passwords are refused for real.

Skipped only when PostgreSQL cannot be started here, saying why; under CI (CI=true) that is a
failure instead: scripts/setup.sh installs it.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from sqlalchemy import Connection, inspect

SECRET_ROLE = "tsq_secret"
SECRET_PASSWORD = "s3cret-Pa55word"


@dataclass(frozen=True)
class Cluster:
    directory: str
    port: int

    def url(self, database: str = "postgres", *, secret: bool = False) -> str:
        user = f"{SECRET_ROLE}:{SECRET_PASSWORD}" if secret else "postgres"
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def admin(self, *statements: str) -> None:
        """Run statements as the superuser, outside any transaction (CREATE DATABASE...)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Database:
    cluster: Cluster
    name: str

    @property
    def url(self) -> str:
        return self.cluster.url(self.name)

    @property
    def secret_url(self) -> str:
        """The same database as the role that needs a password, password in the URL."""
        return self.cluster.url(self.name, secret=True)


def bindir() -> Path | None:
    """Where PostgreSQL's server programs are (Debian keeps them off PATH)."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "initdb")):
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _as_owner(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {(proc.stderr or proc.stdout).strip()[-500:]}")


def start_cluster(programs: Path, *, durable: bool = False) -> Cluster:
    """initdb and start a cluster in a new temp dir; `durable` keeps fsync on (benchmarks)."""
    directory = tempfile.mkdtemp(prefix="tsq-pg-", dir="/tmp")
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    data = os.path.join(directory, "data")
    _run(_as_owner([str(programs / "initdb"), "-D", data, "-U", "postgres", "--auth-local=trust",
                    "--auth-host=trust", "-E", "UTF8", "--no-sync"]))  # fmt: skip
    hba = Path(data, "pg_hba.conf")
    # First match wins: the secret role must give its password over TCP; anyone else is trusted.
    hba.write_text(f"host all {SECRET_ROLE} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    for _ in range(3):  # a free port may be taken by someone else before the server binds it
        port = _free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c max_connections=200"
        if not durable:  # a throwaway cluster: nothing to keep across a crash
            options += " -c fsync=off -c synchronous_commit=off"
        try:
            _run(_as_owner([str(programs / "pg_ctl"), "-D", data, "-w", "-t", "60", "-l",
                            os.path.join(directory, "log"), "-o", options, "start"]))  # fmt: skip
        except RuntimeError:
            continue
        cluster = Cluster(directory, port)
        cluster.admin(f"CREATE ROLE {SECRET_ROLE} LOGIN PASSWORD '{SECRET_PASSWORD}'")
        return cluster
    log = Path(directory, "log")
    raise RuntimeError(
        f"the server did not start: {log.read_text()[-500:] if log.exists() else ''}"
    )


def stop_cluster(programs: Path, cluster: Cluster) -> None:
    data = os.path.join(cluster.directory, "data")
    subprocess.run(_as_owner([str(programs / "pg_ctl"), "-D", data, "-m", "immediate", "-w",
                              "stop"]), capture_output=True, timeout=60, check=False)  # fmt: skip
    shutil.rmtree(cluster.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Cluster]:
    """The session's cluster; started by the first worker that needs it."""
    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent  # shared by every xdist worker of this session
    state, lock = root / "postgres.json", FileLock(str(root / "postgres.lock"))
    pg_bin = bindir()
    why = None
    try:
        import psycopg  # noqa: F401
    except ImportError as e:
        why = f"psycopg is not installed ({e}): pip install '.[test]'"
    if why is None and pg_bin is None:
        why = "PostgreSQL is not installed (apt-get install postgresql; scripts/setup.sh does)"
    if why is None:
        with lock:
            info: dict[str, Any] = json.loads(state.read_text()) if state.exists() else {}
            try:
                if not info:
                    cluster = start_cluster(pg_bin)  # type: ignore[arg-type]
                    info = {"directory": cluster.directory, "port": cluster.port, "users": 0}
                info["users"] += 1
                state.write_text(json.dumps(info))
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                why = f"cannot start a private PostgreSQL cluster: {e}"
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    cluster = Cluster(info["directory"], info["port"])
    yield cluster
    with lock:
        info = json.loads(state.read_text())
        info["users"] -= 1
        if info["users"] == 0:
            stop_cluster(pg_bin, cluster)  # type: ignore[arg-type]
            state.unlink()
        else:
            state.write_text(json.dumps(info))


@dataclass(frozen=True)
class OwnCluster(Cluster):
    """A cluster of one test's own, which it may restart or stop (the session's is shared)."""

    programs: Path = Path()

    def pg_ctl(self, *args: str) -> None:
        """`pg_ctl ARGS` on this cluster, waiting for it; the server's output goes to its log
        (a captured pipe would be held open by the server it starts)."""
        data = os.path.join(self.directory, "data")
        log = os.path.join(self.directory, "log")
        subprocess.run(
            _as_owner([str(self.programs / "pg_ctl"), "-D", data, "-w", "-l", log, *args]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            timeout=60, check=True,
        )  # fmt: skip

    def start(self) -> None:
        """Start it again after `pg_ctl stop`, where it was (`restart` keeps the options by
        itself)."""
        self.pg_ctl("-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory}",
                    "start")  # fmt: skip

    def database(self) -> Database:
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.admin(f"CREATE DATABASE {name} OWNER {SECRET_ROLE}")
        return Database(self, name)


@pytest.fixture
def own_postgres() -> Iterator[OwnCluster]:
    """A private cluster for this test alone, stopped and removed after it."""
    programs = bindir()
    if programs is None:
        why = "PostgreSQL is not installed (apt-get install postgresql; scripts/setup.sh does)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    cluster = start_cluster(programs)
    yield OwnCluster(cluster.directory, cluster.port, programs)
    stop_cluster(programs, cluster)


@pytest.fixture
def pg_database(postgres: Cluster) -> Iterator[Database]:
    """A database of the test's own, owned by the password role (so both roles can use it)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    postgres.admin(f"CREATE DATABASE {name} OWNER {SECRET_ROLE}")
    yield Database(postgres, name)
    postgres.admin(f"DROP DATABASE {name} WITH (FORCE)")


ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(params=ENGINES)
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's store is, on each engine: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "store" / "tsq.db")
    return request.getfixturevalue("pg_database").url


@contextmanager
def _connect(location: str) -> Iterator[Connection]:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from tsq.store import locate

    engine = create_engine(locate(location).url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def db_rows(location: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows straight from the store's database, past tsq."""
    with _connect(location) as connection:
        return [tuple(row) for row in connection.exec_driver_sql(sql)]


def db_execute(location: str, *statements: str) -> None:
    """Write straight into the store's database, past tsq (one transaction)."""
    with _connect(location) as connection:
        for sql in statements:
            connection.exec_driver_sql(sql)
        connection.commit()


def db_tables(location: str) -> set[str]:
    with _connect(location) as connection:
        return set(inspect(connection).get_table_names())


def db_columns(location: str, table: str) -> set[str]:
    with _connect(location) as connection:
        return {column["name"] for column in inspect(connection).get_columns(table)}
