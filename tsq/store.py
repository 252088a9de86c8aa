"""The SQLite store: what was launched, where, and how far each job got.

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
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Float,
    ForeignKey,
    MetaData,
    String,
    UniqueConstraint,
    bindparam,
    create_engine,
    event,
    exc,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    contains_eager,
    mapped_column,
    relationship,
    sessionmaker,
)

from tsq.errors import StoreError, SweepNotFound
from tsq.states import ACTIVE, JobState, can_renew, can_transition, sources_of

# The newest migration in tsq/migrations/versions. Comparing it with the store's alembic_version
# row lets `open` skip importing alembic (slow) on every `status` call; a test keeps it in step.
HEAD_REVISION = "0004"

BUSY_TIMEOUT_S = 30.0
# The files of a SQLite store at PATH are PATH + each of these.
STORE_FILES = ("", "-wal", "-shm", "-journal", ".lock")

_ACTIVE_VALUES = sorted(s.value for s in ACTIVE)


def _now() -> float:
    return time.time()


class Base(DeclarativeBase):
    # SQLAlchemy 2.1 maps `float` to Double where 2.0 used Float; pinning it keeps the models
    # equal to the migrations whichever version is installed.
    type_annotation_map: ClassVar[dict[Any, Any]] = {float: Float}
    # Named constraints let SQLite batch migrations drop or alter them later.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Sweep(Base):
    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[float]
    task_name: Mapped[str]
    app: Mapped[str]
    cwd: Mapped[str]
    sweep_dir: Mapped[str]
    spool_dir: Mapped[str]
    ts_binary: Mapped[str]
    ts_socket: Mapped[str]
    launcher_pid: Mapped[int]
    hostname: Mapped[str]
    njobs: Mapped[int]
    # The code the jobs run (`tsq.snapshot`): the project dir, its snapshot's copy (None when
    # snapshots are off), and the git state it was taken of (None outside git).
    project: Mapped[str | None]
    snapshot: Mapped[str | None]
    git_commit: Mapped[str | None]
    git_branch: Mapped[str | None]
    git_dirty: Mapped[bool | None]

    jobs: Mapped[list[Job]] = relationship(
        back_populates="sweep",
        order_by="Job.num",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    def __repr__(self) -> str:
        return f"Sweep(id={self.id!r}, task_name={self.task_name!r}, njobs={self.njobs})"


class AttemptColumns:
    """What one attempt of a job was: the job's row holds its latest, `attempts` the others."""

    label: Mapped[str]
    ts_id: Mapped[int | None]
    reason: Mapped[str | None]
    exit_code: Mapped[int | None]
    signal: Mapped[int | None]
    submitted_at: Mapped[float | None]
    started_at: Mapped[float | None]
    ended_at: Mapped[float | None]
    output_dir: Mapped[str | None]
    # The ts server instance the attempt was queued in (`tsq.spooler.server_id`).
    server_id: Mapped[str | None]


class Job(AttemptColumns, Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("sweep_id", "num"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sweep_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("sweeps.id", ondelete="CASCADE"), index=True
    )
    num: Mapped[int]
    overrides: Mapped[list[str]] = mapped_column(JSON)
    # Indexed because every status refresh selects the queued and running jobs.
    state: Mapped[str] = mapped_column(index=True, default=JobState.QUEUED.value)
    updated_at: Mapped[float] = mapped_column(default=_now)
    # The row is the job's latest attempt; earlier ones are archived in `attempts`.
    attempt: Mapped[int] = mapped_column(default=1, server_default="1")
    # Counts the writes to the row: every decided write is conditional on the version it was
    # decided from, so a stale or concurrent writer changes nothing (see `Store.apply`).
    version: Mapped[int] = mapped_column(default=0, server_default="0")
    # A live command working on the job (INTENT_SUBMIT, INTENT_CANCEL) and its lease
    # (`tsq.lease`): while the lease is held, nobody judges the job from the queue's silence.
    intent: Mapped[str | None]
    lease: Mapped[str | None]

    sweep: Mapped[Sweep] = relationship(back_populates="jobs")
    history: Mapped[list[Attempt]] = relationship(
        order_by="Attempt.number", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def job_state(self) -> JobState:
        return JobState(self.state)

    def __repr__(self) -> str:
        return f"Job(sweep_id={self.sweep_id!r}, num={self.num}, state={self.state!r})"


ATTEMPT_FIELDS = (*AttemptColumns.__annotations__, "state")


class Attempt(AttemptColumns, Base):
    """An earlier attempt of a job, as it ended (`tsq retry` queued the job again)."""

    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("job_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    state: Mapped[str]


INTENT_SUBMIT = "submit"
INTENT_CANCEL = "cancel"


@dataclass(frozen=True)
class JobUpdate:
    """A state change for one job, decided from the row as it was at `version` in state `seen`.

    Fields left None keep what the store already has; `release` clears the job's intent and
    lease (its holder is gone). Build one with `JobUpdate.of(job, state, ...)`.
    """

    job_id: int
    version: int
    seen: JobState
    state: JobState
    reason: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    output_dir: str | None = None
    ts_id: int | None = None
    server_id: str | None = None
    release: bool = False

    @classmethod
    def of(cls, job: Job, state: JobState, **fields: Any) -> JobUpdate:
        return cls(job.id, job.version, job.job_state, state, **fields)


_UPDATE_BOOKKEEPING = ("job_id", "version", "seen", "state", "release")
# The columns an update may set besides the state.
UPDATE_FIELDS = tuple(f.name for f in fields(JobUpdate) if f.name not in _UPDATE_BOOKKEEPING)


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


def migrations_dir() -> str:
    """Where the package keeps its alembic scripts: an installed tsq has no alembic.ini to ask."""
    spec = importlib.util.find_spec("tsq.migrations")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError("tsq is installed without its migrations (tsq.migrations is missing)")
    return next(iter(spec.submodule_search_locations))


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


class Store:
    """One store file; open it with `Store.open`, which also brings its schema up to date."""

    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self.url = engine.url.render_as_string(hide_password=False)
        self._engine = engine
        self._writer = sessionmaker(engine, expire_on_commit=False)
        self._reader = sessionmaker(
            engine.execution_options(tsq_readonly=True), expire_on_commit=False
        )

    @classmethod
    def open(cls, location: str | os.PathLike[str] | None = None) -> Store:
        path = store_path(location)
        if path.is_dir():  # sqlite would only say "unable to open database file"
            raise StoreError(f"{path} is a directory; give a file path, e.g. {path / 'tsq.db'}")
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"cannot create the store directory for {path}: {e.strerror or e}"
            ) from None
        store = cls(path, make_engine(path))
        try:
            store._ensure_schema()
        except exc.DBAPIError as e:
            raise store._error(e) from None
        return store

    def close(self) -> None:
        """Close the store's connections (a long-lived process may want them gone)."""
        self._engine.dispose()

    # -- schema ---------------------------------------------------------------------------------

    def _schema_revisions(self, connection: Connection) -> list[str] | None:
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
                raise StoreError(f"{self.path} is not a tsq store (it holds other tables)")
            return None
        if "sweeps" not in tables:
            raise StoreError(f"{self.path} is not a tsq store (unknown alembic_version)")
        return revisions

    def _schema_is_current(self) -> bool:
        with self._engine.connect().execution_options(tsq_readonly=True) as connection:
            return self._schema_revisions(connection) == [HEAD_REVISION]

    def _ensure_schema(self) -> None:
        if self._schema_is_current():
            return
        from filelock import FileLock, Timeout

        lock_path = f"{self.path}.lock"
        try:
            with FileLock(lock_path, timeout=5 * BUSY_TIMEOUT_S):
                # Processes that queued on the lock behind the one that migrated stop here,
                # before paying for the alembic import.
                if not self._schema_is_current():
                    self._migrate()
        except Timeout:
            raise StoreError(
                f"cannot migrate {self.path}: another process holds {lock_path}"
            ) from None
        except OSError as e:
            raise StoreError(f"cannot lock {lock_path}: {e.strerror or e}") from None

    def _migrate(self) -> None:
        """Upgrade to head in one write transaction, refusing revisions this tsq does not know."""
        with _quiet("alembic"):
            self._upgrade()

    def _upgrade(self) -> None:
        from alembic import command
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", migrations_dir())
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        with self._engine.begin() as connection:
            revisions = self._schema_revisions(connection) or []
            unknown = sorted(set(revisions) - known)
            if unknown:
                revision = ", ".join(unknown)
                raise StoreError(
                    f"{self.path} was written by a newer tsq (schema revision {revision});"
                    " upgrade tsq"
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def _error(self, error: exc.DBAPIError) -> StoreError:
        reason = str(error.orig if error.orig is not None else error).splitlines()[0]
        if "file is not a database" in reason:
            return StoreError(f"{self.path} is not a tsq store (not a SQLite database)")
        hint = ""
        if "unable to open" in reason or "readonly" in reason:
            hint = f"; check that {self.path.parent} is writable (or use --store / TSQ_STORE)"
        return StoreError(f"cannot use the store {self.path}: {reason}{hint}")

    # -- sessions -------------------------------------------------------------------------------

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A transaction: committed if the block succeeds, rolled back if it raises.

        Read-only callers pass ``write=False`` so they do not queue behind (or block) writers.
        Objects stay usable after the block (no expiry on commit), but lazy relationships do not
        load once the session is closed.
        """
        factory = self._writer if write else self._reader
        try:
            with factory.begin() as session:
                yield session
        except exc.OperationalError as e:
            raise self._error(e) from None

    # -- writes ---------------------------------------------------------------------------------

    def add_sweep(self, sweep: Sweep, jobs: list[Job]) -> None:
        """Record a sweep and all its jobs together: a store never shows half a sweep."""
        sweep.jobs = list(jobs)
        with self.session() as session:
            session.add(sweep)

    def add_jobs(self, sweep_id: str, jobs: list[Job]) -> None:
        """Record another batch of a sweep's jobs: some sweepers call the launcher repeatedly."""
        with self.session() as session:
            for job in jobs:
                job.sweep_id = sweep_id
            session.add_all(jobs)
            session.execute(
                update(Sweep).where(Sweep.id == sweep_id).values(njobs=Sweep.njobs + len(jobs))
            )

    def set_submitted(
        self, lease: str, submitted: dict[int, tuple[int, float]], server_id: str | None
    ) -> None:
        """Record the ts ids that jobs (by job id) got when the holder of `lease` queued them,
        and end its claim on them. Conditional on the lease: only the command that queued an
        attempt records where it went."""
        if not submitted:
            return
        self._end_claims(
            lease,
            {
                "ts_id": bindparam("new_ts_id"),
                "submitted_at": bindparam("new_submitted_at"),
                "server_id": server_id,
            },
            [
                {"job": job_id, "new_ts_id": ts_id, "new_submitted_at": at}
                for job_id, (ts_id, at) in submitted.items()
            ],
        )

    def claim(self, jobs: Sequence[Job], intent: str, lease: str) -> list[Job]:
        """Mark active jobs as being worked on by the holder of `lease`; returns those claimed.

        A job is claimed only if its row is still the version read (nobody wrote it since) and
        no live command holds it: the caller leaves out jobs whose lease is held.
        """
        claimed: list[Job] = []
        now = _now()
        with self.session() as session:
            for job in jobs:
                result = session.execute(
                    update(Job)
                    .where(
                        Job.id == job.id,
                        Job.version == job.version,
                        Job.state.in_(_ACTIVE_VALUES),
                    )
                    .values(intent=intent, lease=lease, version=Job.version + 1, updated_at=now)
                )
                if result.rowcount:  # type: ignore[attr-defined]
                    claimed.append(job)
        return claimed

    def release(self, sweep_id: str, lease: str) -> None:
        """End the claims of `lease` on the sweep's jobs (its holder is done with them)."""
        with self.session() as session:
            session.execute(
                update(Job)
                .where(Job.sweep_id == sweep_id, Job.lease == lease)
                .values(intent=None, lease=None, version=Job.version + 1, updated_at=_now())
            )

    def settle_cancelled(
        self, lease: str, stopped: dict[int, tuple[float | None, float]], reason: str
    ) -> int:
        """Mark the jobs (job id -> (when it started if it did, when it was stopped)) that the
        holder of `lease` took out of the queue as cancelled, unless they reached a terminal
        state meanwhile (a result that arrived first is the truth). Returns how many were
        marked."""
        if not stopped:
            return 0
        table = Job.__table__
        sources = sorted(s.value for s in sources_of(JobState.CANCELLED) if not s.terminal)
        return self._end_claims(
            lease,
            {
                "state": JobState.CANCELLED.value,
                "reason": reason,
                "started_at": func.coalesce(table.c.started_at, bindparam("new_started_at")),
                "ended_at": bindparam("new_ended_at"),
            },
            [
                {"job": job_id, "new_started_at": started, "new_ended_at": ended}
                for job_id, (started, ended) in stopped.items()
            ],
            or_(*(table.c.state == source for source in sources)),
        )

    def _end_claims(
        self, lease: str, values: dict[str, Any], rows: list[dict[str, Any]], *where: Any
    ) -> int:
        """One executemany over jobs (`job` in each row) that the holder of `lease` claimed:
        set `values`, end the claim and count the write. Conditional on the claim, so only
        the command that holds a job writes what it did to it."""
        table = Job.__table__
        statement = (
            update(table)
            .where(table.c.id == bindparam("job"), table.c.lease == lease, *where)
            .values(
                **values,
                intent=None,
                lease=None,
                version=table.c.version + 1,
                updated_at=_now(),
            )
        )
        with self.session() as session:
            return int(session.connection().execute(statement, rows).rowcount)

    def new_attempts(self, jobs: Sequence[Job], labels: Sequence[str], lease: str) -> list[Job]:
        """Archive each job's ended attempt and make its row a new, queued one with `label`,
        claimed by the holder of `lease` (which is about to queue it).

        One transaction; a job whose row changed since it was read (another retry) or that
        may not be renewed is left alone and not returned. Terminal attempts never change:
        they move, as they are, to `attempts`.
        """
        renewed: list[Job] = []
        now = _now()
        with self.session() as session:
            for job, label in zip(jobs, labels, strict=True):
                current = session.scalars(
                    select(Job).where(Job.id == job.id, Job.version == job.version)
                ).first()
                if current is None or not can_renew(current.job_state):
                    continue
                archived = {name: getattr(current, name) for name in ATTEMPT_FIELDS}
                session.add(Attempt(job_id=current.id, number=current.attempt, **archived))
                for name in ATTEMPT_FIELDS:
                    setattr(current, name, None)
                current.output_dir = archived["output_dir"]
                current.label = label
                current.state = JobState.QUEUED.value
                current.attempt += 1
                current.version += 1
                current.intent = INTENT_SUBMIT
                current.lease = lease
                current.updated_at = now
                renewed.append(current)
        return renewed

    def forget(self, sweep_id: str) -> int:
        """Drop a sweep and its jobs' records (never their files); returns how many jobs."""
        with self.session() as session:
            sweep = session.get(Sweep, sweep_id)
            if sweep is None:
                return 0
            count = len(sweep.jobs)
            session.delete(sweep)
        return count

    def apply(self, updates: Sequence[JobUpdate]) -> int:
        """Apply state changes; returns how many jobs changed.

        Each update is checked against the transition table (from the state it was decided
        from), and its UPDATE is conditional on the row version it was decided from: a writer
        that read the job before someone else wrote it (another refresh, a retry that made a
        new attempt, a cancel that claimed it) changes nothing, and the next refresh decides
        again from what is true then. Updates of the same shape (target state, fields set) run
        as one statement over many rows: a refresh after a thousand jobs ended is one
        executemany, not a thousand statements to build.
        """
        now = _now()
        Shape = tuple[JobState, tuple[str, ...], bool]
        shapes: dict[Shape, list[dict[str, Any]]] = defaultdict(list)
        for u in updates:
            if not can_transition(u.seen, u.state):
                raise ValueError(f"job {u.job_id}: no transition from {u.seen} to {u.state}")
            values = {
                name: value
                for name, value in asdict(u).items()
                if value is not None and name not in _UPDATE_BOOKKEEPING
            }
            shapes[(u.state, tuple(sorted(values)), u.release)].append(
                {
                    "job": u.job_id,
                    "seen_version": u.version,
                    **{f"new_{name}": value for name, value in values.items()},
                }
            )
        table = Job.__table__
        changed = 0
        with self.session() as session:
            for (state, names, release), rows in shapes.items():
                held = {} if not release else {"intent": None, "lease": None}
                statement = (
                    update(table)
                    .where(
                        table.c.id == bindparam("job"),
                        table.c.version == bindparam("seen_version"),
                    )
                    .values(
                        state=state.value,
                        updated_at=now,
                        version=table.c.version + 1,
                        **held,
                        **{name: bindparam(f"new_{name}") for name in names},
                    )
                )
                changed += session.connection().execute(statement, rows).rowcount
        return changed

    # -- reads ----------------------------------------------------------------------------------

    def active_jobs(self, sweep_id: str | None = None) -> list[Job]:
        """Queued and running jobs (of one sweep, if given) with their sweep loaded: what a
        status refresh must check."""
        query = (
            select(Job)
            .join(Job.sweep)
            .options(contains_eager(Job.sweep))
            .where(Job.state.in_(_ACTIVE_VALUES))
            .order_by(Sweep.created_at, Sweep.id, Job.num)
        )
        if sweep_id is not None:
            query = query.where(Job.sweep_id == sweep_id)
        with self.session(write=False) as session:
            return list(session.scalars(query))

    def jobs(self, sweep_ids: Sequence[str]) -> list[Job]:
        """The jobs of the given sweeps, each with its sweep loaded, oldest sweep first."""
        with self.session(write=False) as session:
            return list(
                session.scalars(
                    select(Job)
                    .join(Job.sweep)
                    .options(contains_eager(Job.sweep))
                    .where(Job.sweep_id.in_(list(sweep_ids)))
                    .order_by(Sweep.created_at, Sweep.id, Job.num)
                )
            )

    def sweeps(self, *, active_or_since: float | None = None) -> list[Sweep]:
        """Sweeps, newest first; with `active_or_since`, only the unfinished or recent ones."""
        query = select(Sweep).order_by(Sweep.created_at.desc(), Sweep.id)
        if active_or_since is not None:
            # IN over the state index reads only the active jobs; an EXISTS per sweep would
            # read every job of history (25 ms at 100k jobs, measured; this: under 1 ms).
            active = select(Job.sweep_id).where(Job.state.in_(_ACTIVE_VALUES))
            query = query.where(or_(Sweep.created_at >= active_or_since, Sweep.id.in_(active)))
        with self.session(write=False) as session:
            return list(session.scalars(query))

    def find_sweep(self, ref: str | None) -> Sweep:
        """The sweep a user means by `ref`: an id, a unique id prefix or a sweep directory.

        None means the latest sweep. A directory matches on its real path, so symlinks and
        relative paths work; if several sweeps ran into the same directory, the latest wins.
        """
        with self.session(write=False) as session:
            if ref is None:
                latest = session.scalars(
                    select(Sweep).order_by(Sweep.created_at.desc(), Sweep.id).limit(1)
                ).first()
                if latest is None:
                    raise SweepNotFound("the store has no sweeps yet")
                return latest

            exact = session.get(Sweep, ref)
            if exact is not None:
                return exact

            is_path = os.sep in ref or ref.startswith("~") or os.path.isdir(ref)
            if is_path:
                wanted = os.path.realpath(os.path.expanduser(ref))
                for sweep in session.scalars(select(Sweep).order_by(Sweep.created_at.desc())):
                    if os.path.realpath(sweep.sweep_dir) == wanted:
                        return sweep
                if os.sep in ref:
                    raise SweepNotFound(f"no sweep ran in {ref!r}")

            matches = list(
                session.scalars(
                    select(Sweep)
                    .where(Sweep.id.startswith(ref, autoescape=True))
                    .order_by(Sweep.created_at.desc())
                )
            )
        if not matches:
            raise SweepNotFound(f"no sweep matches {ref!r}")
        if len(matches) > 1:
            shown = ", ".join(s.id for s in matches[:3]) + (", ..." if len(matches) > 3 else "")
            raise SweepNotFound(
                f"{ref!r} is ambiguous: matches {len(matches)} sweeps ({shown});"
                " type more characters"
            )
        return matches[0]
