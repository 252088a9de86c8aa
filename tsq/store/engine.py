"""Opening a store: where it is, an engine fit for many processes, and its schema at head.

A store is a SQLite file (the default) or a PostgreSQL database (`postgresql://...`, psycopg 3,
imported only for such a store). What differs between the two is a `Location`: how the store is
named and shown (never with its password), how the engine is set up, how a migration is kept to
one process at a time, and how a database error reads.

Many processes share one store (every launcher, every `status` refresh), so the engines are set
up for concurrency rather than speed. SQLite: WAL lets readers and the single writer proceed
together, a long busy timeout makes writers queue instead of failing, and write transactions start
with BEGIN IMMEDIATE so a writer takes the lock before it reads anything (see `SqliteLocation`).
PostgreSQL runs writers side by side: a write that depends on what it read locks the rows it read
(`SELECT ... FOR UPDATE`, see `Store.new_attempts`), writes of several jobs lock them in id order
and are run again if PostgreSQL aborts them as a deadlock (see `tsq.store.queries`), and a
migration holds an advisory lock, which works across hosts where a file lock would not.

A PostgreSQL server restarts (an upgrade, a failover, `pg_ctl restart`) while commands that follow
jobs for hours hold connections to it. So a PostgreSQL engine checks a pooled connection before
lending it (pre-ping), goes on trying to connect while the server cannot be reached, and a
transaction cut off by a dropped connection runs again (`tsq.store.queries`), all for a bounded
time, the location's `patience`: a few seconds for a command that answers at once, a minute for
one that waits (`tsq wait`, a launcher with `wait=true`, the watchers). Only a store still out of
reach after that is an error, one line.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, exc, inspect
from sqlalchemy.engine import URL, make_url

from tsq.errors import StoreError

T = TypeVar("T")

# The newest migration in tsq/migrations/versions. Comparing it with the store's alembic_version
# row lets `open_engine` skip importing alembic (slow) on every `status` call; a test keeps it in
# step.
HEAD_REVISION = "0009"

BUSY_TIMEOUT_S = 30.0
# The files of a SQLite store at PATH are PATH + each of these.
STORE_FILES = ("", "-wal", "-shm", "-journal", ".lock")
# The PostgreSQL advisory lock (one bigint, per database) that a migration holds.
MIGRATION_LOCK = 0x74737120_6D696772  # "tsq migr"
# Seconds a PostgreSQL connection attempt may take (libpq waits for TCP's own timeout otherwise).
CONNECT_TIMEOUT_S = 10
# How long a command goes on reaching a PostgreSQL store that dropped its connections or refuses
# new ones (a restart: under a second with `pg_ctl restart -m fast`, measured), and for one that
# waits on jobs for hours (`Store.open(patience=LONG_PATIENCE_S)`).
PATIENCE_S = 10.0
LONG_PATIENCE_S = 60.0
# The first pause between two tries to reach it, doubled up to the longest.
FIRST_PAUSE_S, LONGEST_PAUSE_S = 0.1, 2.0
# libpq's words for a server that is there but cannot be used yet, or not there at all: worth
# trying again. A wrong password, a missing database or role are not (they fail at once).
_UNREACHABLE = (
    "connection refused", "the database system is starting up",
    "the database system is shutting down", "the database system is in recovery mode",
    "the database system is not yet accepting connections", "terminating connection",
    "server closed the connection", "no such file or directory", "connection reset",
    "could not receive data", "could not send data", "timeout expired", "connection timed out",
    "too many connections", "network is unreachable", "no route to host",
)  # fmt: skip
# URL query keys that carry secrets (libpq's `password`, `sslpassword`).
_SECRET_KEYS = ("password", "sslpassword")

# statfs(2) f_type of file systems shared over a network (linux/magic.h, the file systems' own
# headers). SQLite's WAL keeps its index in shared memory (the -shm file, mmap'ed), which processes
# on different hosts do not share: two hosts writing one store there corrupt it.
NETWORK_FILE_SYSTEMS = {
    0x6969: "NFS",
    0x517B: "SMB",
    0xFF534D42: "CIFS",
    0xFE534D42: "SMB2",
    0x01021997: "9p",
    0x0BD00BD0: "Lustre",
    0x47504653: "GPFS",
    0x00C36400: "CephFS",
    0x5346414F: "AFS",
    0x6B414653: "AFS",
    0x73757245: "Coda",
    0x564C: "NCP",
    0x01161970: "GFS2",
    0x7461636F: "OCFS2",
    0x19830326: "BeeGFS",
    0xAAD7AAEA: "PanFS",
}
FUSE_MAGIC = 0x65735546
# FUSE file systems (mountinfo type `fuse.NAME`) that reach another host; other FUSE file systems
# (fuse-overlayfs in rootless containers, encfs...) are local.
NETWORK_FUSE = {
    "sshfs", "glusterfs", "s3fs", "gcsfuse", "rclone", "ceph-fuse", "mfs", "juicefs",
    "lizardfs", "cvmfs", "davfs", "goofys", "blobfuse", "blobfuse2", "sftp", "curlftpfs",
}  # fmt: skip


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


def masked(raw: str) -> str:
    """A store location as given, its password (if any) replaced by ***: for messages about
    a location that could not even be parsed."""
    raw = re.sub(r"(://[^:/@]*):.*@", r"\1:***@", raw)
    return re.sub(rf"((?:{'|'.join(_SECRET_KEYS)})=)[^&]*", r"\1***", raw)


class Location:
    """Where a store is, and what its engine needs that the other engine does not."""

    #: what SQLAlchemy connects to (with the password, if one was given: never print it)
    url: URL
    #: the store as messages and printed commands show it: a path, or a URL without password
    display: str
    #: the file of a SQLite store; None for a database server
    path: Path | None = None
    #: seconds a command goes on trying a store it cannot reach (a database server restarting)
    patience: float = PATIENCE_S

    def prepare(self, create: bool) -> None:
        """What must hold before the engine is made (a directory, a local file system); a
        store that is not there is made only if `create`."""

    def make_engine(self) -> Engine:
        raise NotImplementedError

    def adopt(self, engine: Engine) -> None:
        """Set what the store keeps in its own file or database (SQLite's journal mode), once it
        is known to be tsq's or new: a database of someone else's is refused unchanged."""

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        """Held around a migration's transaction, if the engine needs more than `lock_schema`."""
        yield

    def lock_schema(self, connection: Connection) -> None:
        """First statement of a migration's transaction: from here to its end no other process
        migrates the store."""

    def describe(self, error: exc.DBAPIError) -> StoreError:
        """A database error as the one line a user sees."""
        return StoreError(f"cannot use the store {self.display}: {_reason(error)}")

    def gave_up(self, error: exc.DBAPIError) -> StoreError:
        """`describe`, for an error that came after `patience` seconds of trying again."""
        return self.describe(error)

    def dropped(self, error: exc.DBAPIError) -> bool:
        """Whether `error` says the connection was lost, not that the request was wrong."""
        return error.connection_invalidated

    def outlast(self, work: Callable[[], T]) -> T:
        """`work()`, run again from its start while it fails because its connection dropped
        (the server restarted: nothing of an unfinished transaction was written), for
        `patience` seconds; the engine connects again meanwhile (patiently, on PostgreSQL).
        Other errors go through; a drop that lasts is `gave_up`."""
        pauses = _pauses(self.patience)
        while True:
            try:
                return work()
            except exc.DBAPIError as e:
                if not self.dropped(e):
                    raise
                if not next(pauses):
                    raise self.gave_up(e) from None


def _pauses(patience: float) -> Iterator[bool]:
    """Pauses between tries, growing, for `patience` seconds in all: each `next` sleeps and
    gives True, or gives False once the time is up (then stop trying)."""
    deadline = time.monotonic() + patience
    pause = FIRST_PAUSE_S
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(pause, left))
        pause = min(pause * 2, LONGEST_PAUSE_S)
        yield True
    while True:
        yield False


def _reason(error: exc.DBAPIError) -> str:
    """The driver's message, on one line (libpq's span several: the failure, then a hint)."""
    text = str(error.orig if error.orig is not None else error)
    return "; ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


class SqliteLocation(Location):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = URL.create("sqlite", database=str(path))
        self.display = str(path)

    def prepare(self, create: bool) -> None:
        path = self.path
        assert path is not None
        if path.is_dir():  # sqlite would only say "unable to open database file"
            raise StoreError(f"{path} is a directory; give a file path, e.g. {path / 'tsq.db'}")
        if not create and not path.exists():  # sqlite would make the file, empty
            raise no_store(self, "no such file")
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"cannot create the store directory for {path}: {e.strerror or e}"
            ) from None
        network = network_file_system(str(path.parent))
        if network is not None:
            raise StoreError(
                f"{path} is on a network file system ({network}), where SQLite's WAL mode "
                "corrupts a store that several hosts use: put the store on a local disk, or use "
                "a PostgreSQL store (--store / TSQ_STORE postgresql://...)"
            )

    def make_engine(self) -> Engine:
        """An engine whose connections survive many concurrent processes on the same file.

        SQLAlchemy, not pysqlite, emits BEGIN: pysqlite's legacy mode runs SELECTs outside any
        transaction (a read-then-write is not isolated) and autocommits DDL (a concurrent opener
        could see half a migration). A plain deferred BEGIN is not enough either: a transaction
        that reads and then writes fails at once with "database is locked" if another process
        committed in between (SQLITE_BUSY_SNAPSHOT under WAL), and the busy timeout does not
        apply to that. With 8 processes doing read-then-write transactions, most of them failed
        that way. So transactions are BEGIN IMMEDIATE, which waits for the write lock under the
        busy timeout before reading, unless the connection carries the execution option
        ``tsq_readonly=True``. A connection sets only what lasts as long as it does: WAL, which
        is written into the file, waits for `adopt`.
        """
        engine = create_engine(
            self.url, connect_args={"timeout": BUSY_TIMEOUT_S, "isolation_level": None}
        )

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                cursor.execute("PRAGMA foreign_keys = ON")
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            readonly = connection.get_execution_options().get("tsq_readonly", False)
            connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine

    def adopt(self, engine: Engine) -> None:
        """WAL (persistent: it is recorded in the file). Switching another application's
        database to it would change that file before tsq refuses it, so this runs only once
        the file's tables are known to be tsq's (or it has none). A no-op on a store in WAL;
        a fresh file's switch waits for its lock under the connection's busy timeout. Outside
        any transaction (SQLite cannot change the journal mode inside one): on the DBAPI
        connection, which pysqlite leaves in autocommit (isolation_level None)."""
        connection = engine.raw_connection()
        try:
            connection.cursor().execute("PRAGMA journal_mode = WAL").close()
        finally:
            connection.close()

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        from filelock import FileLock, Timeout

        lock_path = f"{self.path}.lock"
        try:
            with FileLock(lock_path, timeout=5 * BUSY_TIMEOUT_S):
                yield
        except Timeout:
            raise StoreError(
                f"cannot migrate {self.path}: another process holds {lock_path}"
            ) from None
        except OSError as e:
            raise StoreError(f"cannot lock {lock_path}: {e.strerror or e}") from None

    def describe(self, error: exc.DBAPIError) -> StoreError:
        reason = _reason(error)
        if "file is not a database" in reason:
            return StoreError(f"{self.path} is not a tsq store (not a SQLite database)")
        hint = ""
        if "unable to open" in reason or "readonly" in reason:
            assert self.path is not None
            hint = f"; check that {self.path.parent} is writable (or use --store / TSQ_STORE)"
        return StoreError(f"cannot use the store {self.path}: {reason}{hint}")


class PostgresLocation(Location):
    def __init__(self, url: URL) -> None:
        # SQLAlchemy 2.0 reads plain postgresql:// as psycopg2; tsq speaks psycopg 3.
        self.url = url.set(drivername="postgresql+psycopg")
        # (`URL.set(password=None)` would keep the password: None there means "unchanged".)
        public = url._replace(password=None).difference_update_query(_SECRET_KEYS)
        self.display = public.render_as_string(hide_password=False)

    def make_engine(self) -> Engine:
        """An engine that outlasts a restart of the server: a pooled connection is checked
        before use (a restart closed it), and a connection the server refuses because it is
        down or starting up is tried again for `patience` seconds (`_connect_patiently`)."""
        query = self.url.query
        defaults = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "tsq"}
        connect_args = {k: v for k, v in defaults.items() if k not in query}
        try:
            engine = create_engine(self.url, connect_args=connect_args, pool_pre_ping=True)
        except ImportError as e:
            raise StoreError(
                f"the store {self.display} is a PostgreSQL database, which needs psycopg 3 "
                f"({e}): pip install 'tsq[postgres]'"
            ) from None
        _quiet_secondary_errors()

        @event.listens_for(engine, "do_connect")
        def _connect(
            dialect: Any, _record: object, cargs: list[Any], cparams: dict[str, Any]
        ) -> Any:
            return self._connect_patiently(lambda: dialect.connect(*cargs, **cparams))

        return engine

    def _connect_patiently(self, connect: Callable[[], T]) -> T:
        """`connect()`, tried again after a growing pause while the server cannot be reached
        (see `_UNREACHABLE`), for `patience` seconds; any other failure (a wrong password)
        at once."""
        pauses = _pauses(self.patience)
        while True:
            try:
                return connect()
            except Exception as e:  # the driver's OperationalError; SQLAlchemy wraps it
                if not is_unreachable(e) or not next(pauses):
                    raise

    def dropped(self, error: exc.DBAPIError) -> bool:
        # A connection the server ends while it is being set up (its first queries) is not
        # marked invalidated by SQLAlchemy, but is as lost.
        return error.connection_invalidated or is_unreachable(error)

    def gave_up(self, error: exc.DBAPIError) -> StoreError:
        described = self.describe(error)
        if not is_unreachable(error):
            return described
        return StoreError(f"{described} (still unreachable after {self.patience:g} s)")

    def lock_schema(self, connection: Connection) -> None:
        # Released with the transaction, however it ends; without it, concurrent first opens
        # failed creating the same tables (6 of 8 processes, measured).
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")

    def describe(self, error: exc.DBAPIError) -> StoreError:
        reason = _reason(error).removeprefix("connection failed: ")
        password = self.url.password
        if password:
            reason = reason.replace(str(password), "***")
        hint = ""
        if "password" in reason:
            hint = "; give the password in ~/.pgpass, $PGPASSWORD or a service file"
        elif re.search(r'database ".*" does not exist', reason):
            hint = "; create it first (createdb NAME)"
        return StoreError(f"cannot use the store {self.display}: {reason}{hint}")


def is_unreachable(error: BaseException) -> bool:
    """Whether a PostgreSQL error says the server cannot be reached now (it is down,
    restarting, or dropped the connection), rather than that the request is wrong."""
    text = str(getattr(error, "orig", None) or error).lower()
    return any(words in text for words in _UNREACHABLE)


def _quiet_secondary_errors() -> None:
    """Keep psycopg's "error ignored ..." warnings (a rollback or pipeline exit that fails on a
    connection already known to be broken) off the user's console: the error that broke the
    connection is the one handled, and said once, by tsq."""
    psycopg_log = logging.getLogger("psycopg")
    if not any(isinstance(f, _SecondaryErrors) for f in psycopg_log.filters):
        psycopg_log.addFilter(_SecondaryErrors())


class _SecondaryErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored")


def no_store(where: Location, why: str) -> StoreError:
    """A command that only reads was pointed at a store that does not exist (a typo in
    `--store`, a `TSQ_STORE` of another shell): it says so, rather than make one and report
    it empty."""
    return StoreError(
        f"no tsq store at {where.display}: {why}; check --store / TSQ_STORE (launching a "
        "sweep creates the store; if it was deleted, `tsq adopt SWEEP_DIR` records a sweep "
        "again from its files)"
    )


def locate(location: str | os.PathLike[str] | None) -> Location:
    """Where a store location (a path, `sqlite:///PATH` or `postgresql://...`; default:
    `default_location()`) points. SQLite paths are made absolute, so that every process names
    the same file."""
    raw = default_location() if location is None else os.fspath(location)
    if "://" not in raw:
        return SqliteLocation(Path(os.path.abspath(os.path.expanduser(raw))))
    try:
        url = make_url(raw)
    except (exc.ArgumentError, ValueError) as e:
        raise StoreError(f"invalid store URL {masked(raw)!r}: {e}") from None
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise StoreError(f"a tsq store must be a file, not {masked(raw)!r}")
        return SqliteLocation(Path(os.path.abspath(os.path.expanduser(url.database))))
    if backend in ("postgresql", "postgres"):
        if "+" in url.drivername and driver != "psycopg":
            raise StoreError(
                f"tsq talks to PostgreSQL through psycopg 3: write {masked(raw)!r} as "
                "postgresql://..."
            )
        return PostgresLocation(url)
    raise StoreError(
        f"unsupported store {masked(raw)!r}: give a path, sqlite:///PATH or postgresql://..."
    )


def network_file_system(directory: str) -> str | None:
    """The name of the network file system `directory` is on; None on a local one (or where
    this cannot be told: not Linux, statfs failed)."""
    kind = _fs_type(directory)
    if kind == FUSE_MAGIC:
        subtype = _fuse_subtype(directory)
        return f"fuse.{subtype}" if subtype in NETWORK_FUSE else None
    return NETWORK_FILE_SYSTEMS.get(kind) if kind is not None else None


def _fs_type(directory: str) -> int | None:
    """statfs(2)'s f_type (the first field of struct statfs, a C long)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    buffer = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.statfs(os.fsencode(directory), buffer) != 0:
        return None
    return ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF


def _fuse_subtype(directory: str) -> str | None:
    """NAME of the `fuse.NAME` mount holding `directory`, from /proc/self/mountinfo."""
    real = os.path.realpath(directory)
    best, subtype = -1, None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                before, _, after = line.partition(" - ")
                fields = before.split()
                if len(fields) < 5 or not after:
                    continue
                point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
                inside = real == point or real.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= best:  # the later of stacked mounts is on top
                    best, fstype = len(point), after.split()[0]
                    subtype = fstype.split(".", 1)[1] if fstype.startswith("fuse.") else None
    except OSError:
        return None
    return subtype


def open_engine(
    location: str | os.PathLike[str] | None,
    *,
    create: bool = False,
    patience: float = PATIENCE_S,
) -> tuple[Location, Engine]:
    """The store's location and an engine on it, its schema brought up to date: a store at an
    older schema is upgraded; one that does not exist is created only if `create` (a launch),
    else refused (StoreError), and nothing (file, directory, table) is made. A database server
    that cannot be reached is tried for `patience` seconds."""
    where = locate(location)
    where.patience = patience
    where.prepare(create)
    engine = where.make_engine()
    try:
        where.outlast(lambda: _ensure_schema(where, engine, create))
    except exc.DBAPIError as e:
        engine.dispose()
        raise where.describe(e) from None
    except BaseException:
        engine.dispose()  # a refused store keeps no file or connection open
        raise
    return where, engine


def migrations_dir() -> str:
    """Where the package keeps its alembic scripts: an installed tsq has no alembic.ini to ask."""
    spec = importlib.util.find_spec("tsq.migrations")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError("tsq is installed without its migrations (tsq.migrations is missing)")
    return next(iter(spec.submodule_search_locations))


def _schema_revisions(where: Location, connection: Connection) -> list[str] | None:
    """The store's alembic revisions; None for an empty database that needs creating.

    Raises StoreError for databases that were not made by tsq, so that tsq never adds its
    tables to someone else's database.
    """
    tables = set(inspect(connection).get_table_names())
    revisions = []
    if "alembic_version" in tables:
        revisions = list(
            connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
        )
    if revisions == [HEAD_REVISION]:
        return revisions
    if not revisions:
        if tables - {"alembic_version"}:
            raise StoreError(f"{where.display} is not a tsq store (it holds other tables)")
        return None
    if "sweeps" not in tables:
        raise StoreError(f"{where.display} is not a tsq store (unknown alembic_version)")
    return revisions


def _read_revisions(where: Location, engine: Engine) -> list[str] | None:
    with engine.connect().execution_options(tsq_readonly=True) as connection:
        return _schema_revisions(where, connection)


def _ensure_schema(where: Location, engine: Engine, create: bool) -> None:
    revisions = _read_revisions(where, engine)  # refuses a database of someone else's
    if revisions is None and not create:
        raise no_store(where, "the database holds no tsq tables")
    where.adopt(engine)
    if revisions == [HEAD_REVISION]:
        return
    with where.migration_lock(), _quiet("alembic"):
        _upgrade(where, engine)


def _upgrade(where: Location, engine: Engine) -> None:
    """Upgrade to head in one write transaction, refusing revisions this tsq does not know."""
    with engine.begin() as connection:
        where.lock_schema(connection)
        revisions = _schema_revisions(where, connection) or []
        if revisions == [HEAD_REVISION]:
            # Another process migrated while this one waited for the lock: done, without
            # paying for the alembic import.
            return
        from alembic import command
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", migrations_dir())
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        unknown = sorted(set(revisions) - known)
        if unknown:
            revision = ", ".join(unknown)
            raise StoreError(
                f"{where.display} was written by a newer tsq (schema revision {revision});"
                " upgrade tsq"
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
