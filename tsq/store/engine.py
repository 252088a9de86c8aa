"""Opening a store: where it is, an engine fit for many processes, and its schema at head.

Many processes share one store file (every launcher, every `status` refresh), so the engine is set
up for concurrency rather than speed: WAL lets readers and the single writer proceed together, a
long busy timeout makes writers queue instead of failing, and write transactions start with
BEGIN IMMEDIATE so a writer takes the lock before it reads anything (see `make_engine`).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url

from tsq.errors import StoreError

# The newest migration in tsq/migrations/versions. Comparing it with the store's alembic_version
# row lets `open_engine` skip importing alembic (slow) on every `status` call; a test keeps it in
# step.
HEAD_REVISION = "0005"

BUSY_TIMEOUT_S = 30.0
# The files of a SQLite store at PATH are PATH + each of these.
STORE_FILES = ("", "-wal", "-shm", "-journal", ".lock")


def default_location() -> str:
    """$TSQ_STORE, else a per-user file in the XDG state dir (state, not cache: it is history)."""
    configured = os.environ.get("TSQ_STORE")
    if configured:
        return configured
    state_home = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    if not os.path.isabs(state_home):
        state_home = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state_home, "tsq", "tsq.db")


def store_path(location: str | os.PathLike[str] | None) -> Path:
    """The absolute file behind a store location, so that every process names the same file."""
    raw = default_location() if location is None else os.fspath(location)
    if "://" in raw:
        try:
            url = make_url(raw)
        except exc.ArgumentError as e:
            raise StoreError(f"invalid store URL {raw!r}: {e}") from None
        if url.get_backend_name() != "sqlite":
            raise StoreError(f"only SQLite stores are supported: {raw!r}")
        if not url.database or url.database == ":memory:":
            raise StoreError(f"a tsq store must be a file, not {raw!r}")
        raw = url.database
    return Path(os.path.abspath(os.path.expanduser(raw)))


def make_engine(path: Path) -> Engine:
    """An engine whose connections survive many concurrent processes on the same file.

    SQLAlchemy, not pysqlite, emits BEGIN: pysqlite's legacy mode runs SELECTs outside any
    transaction (a read-then-write is not isolated) and autocommits DDL (a concurrent opener could
    see half a migration). A plain deferred BEGIN is not enough either: a transaction that reads
    and then writes fails at once with "database is locked" if another process committed in
    between (SQLITE_BUSY_SNAPSHOT under WAL), and the busy timeout does not apply to that. With 8
    processes doing read-then-write transactions, most of them failed that way. So transactions
    are BEGIN IMMEDIATE, which waits for the write lock under the busy timeout before reading,
    unless the connection carries the execution option ``tsq_readonly=True``.
    """
    engine = create_engine(
        URL.create("sqlite", database=str(path)),
        connect_args={"timeout": BUSY_TIMEOUT_S, "isolation_level": None},
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching a fresh file to WAL needs a lock others may hold.
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        readonly = connection.get_execution_options().get("tsq_readonly", False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def open_engine(location: str | os.PathLike[str] | None) -> tuple[Path, Engine]:
    """The store's file and an engine on it, its schema brought up to date (created if new)."""
    path = store_path(location)
    if path.is_dir():  # sqlite would only say "unable to open database file"
        raise StoreError(f"{path} is a directory; give a file path, e.g. {path / 'tsq.db'}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(
            f"cannot create the store directory for {path}: {e.strerror or e}"
        ) from None
    engine = make_engine(path)
    try:
        _ensure_schema(path, engine)
    except exc.DBAPIError as e:
        raise describe_error(path, e) from None
    return path, engine


def describe_error(path: Path, error: exc.DBAPIError) -> StoreError:
    """A database error as the one line a user sees."""
    reason = str(error.orig if error.orig is not None else error).splitlines()[0]
    if "file is not a database" in reason:
        return StoreError(f"{path} is not a tsq store (not a SQLite database)")
    hint = ""
    if "unable to open" in reason or "readonly" in reason:
        hint = f"; check that {path.parent} is writable (or use --store / TSQ_STORE)"
    return StoreError(f"cannot use the store {path}: {reason}{hint}")


def migrations_dir() -> str:
    """Where the package keeps its alembic scripts: an installed tsq has no alembic.ini to ask."""
    spec = importlib.util.find_spec("tsq.migrations")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError("tsq is installed without its migrations (tsq.migrations is missing)")
    return next(iter(spec.submodule_search_locations))


def _schema_revisions(path: Path, connection: Connection) -> list[str] | None:
    """The store's alembic revisions; None for an empty file that needs creating.

    Raises StoreError for files that are SQLite but were not made by tsq, so that tsq never
    adds its tables to someone else's database.
    """
    tables = set(
        connection.exec_driver_sql(
            "SELECT name FROM sqlite_master"
            " WHERE type = 'table' AND substr(name, 1, 7) != 'sqlite_'"
        ).scalars()
    )
    revisions = []
    if "alembic_version" in tables:
        revisions = list(
            connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
        )
    if revisions == [HEAD_REVISION]:
        return revisions
    if not revisions:
        if tables - {"alembic_version"}:
            raise StoreError(f"{path} is not a tsq store (it holds other tables)")
        return None
    if "sweeps" not in tables:
        raise StoreError(f"{path} is not a tsq store (unknown alembic_version)")
    return revisions


def _schema_is_current(path: Path, engine: Engine) -> bool:
    with engine.connect().execution_options(tsq_readonly=True) as connection:
        return _schema_revisions(path, connection) == [HEAD_REVISION]


def _ensure_schema(path: Path, engine: Engine) -> None:
    if _schema_is_current(path, engine):
        return
    from filelock import FileLock, Timeout

    lock_path = f"{path}.lock"
    try:
        with FileLock(lock_path, timeout=5 * BUSY_TIMEOUT_S):
            # Processes that queued on the lock behind the one that migrated stop here,
            # before paying for the alembic import.
            if not _schema_is_current(path, engine):
                with _quiet("alembic"):
                    _upgrade(path, engine)
    except Timeout:
        raise StoreError(f"cannot migrate {path}: another process holds {lock_path}") from None
    except OSError as e:
        raise StoreError(f"cannot lock {lock_path}: {e.strerror or e}") from None


def _upgrade(path: Path, engine: Engine) -> None:
    """Upgrade to head in one write transaction, refusing revisions this tsq does not know."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", migrations_dir())
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    with engine.begin() as connection:
        revisions = _schema_revisions(path, connection) or []
        unknown = sorted(set(revisions) - known)
        if unknown:
            revision = ", ".join(unknown)
            raise StoreError(
                f"{path} was written by a newer tsq (schema revision {revision}); upgrade tsq"
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Migrating a store is routine, not news: keep alembic's INFO lines out of the app's log
    (Hydra apps log INFO to the console)."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
