"""The store's reads and writes: what was launched, where, and how far each job got.

Every write of a job's state goes through `Store.apply` (or one of the claim and settle writes
beside it): checked against the transition table in `tsq.states` and conditional on the row
version it was decided from, so concurrent commands never overwrite each other's truth.

On PostgreSQL writers run side by side, so every write that touches several jobs locks their rows
in one order (by id, `_lock_jobs`) before it writes: two refreshes whose updates came in
different orders then queue behind each other instead of deadlocking. A transaction PostgreSQL
still aborts as a deadlock or a serialization failure (a writer outside tsq, a lock order not
foreseen) is run again from its start (`Store._transaction`): every write here is conditional
on what it reads inside the transaction (row versions, states, leases), so running it again
decides afresh from what is true then.
"""

from __future__ import annotations

import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Engine, bindparam, exc, func, or_, select, update
from sqlalchemy.orm import Session, contains_eager, selectinload, sessionmaker

from tsq.errors import SweepNotFound
from tsq.hosts import this_host
from tsq.states import (
    ACTIVE,
    INTENT_SUBMIT,
    UPDATE_FIELDS,
    JobState,
    JobUpdate,
    Rerun,
    can_renew,
    can_transition,
    sources_of,
)
from tsq.store.engine import PATIENCE_S, Location, open_engine
from tsq.store.models import ATTEMPT_FIELDS, Attempt, Job, Sweep, now

_ACTIVE = sorted(ACTIVE)

T = TypeVar("T")

# SQLSTATEs of a transaction PostgreSQL aborted so that another could go on: deadlock_detected,
# serialization_failure. Running it again is the remedy PostgreSQL's manual gives.
_TRANSIENT = frozenset({"40P01", "40001"})
# How many times a transaction aborted that way is run in all, and the first pause's upper bound
# (doubled at each further attempt, randomized so that the two sides of a deadlock do not meet
# again in step).
TRANSACTION_ATTEMPTS = 5
RETRY_PAUSE_S = 0.05
# Ids locked by one `SELECT ... FOR UPDATE` (PostgreSQL takes at most 65535 bound parameters).
_LOCK_CHUNK = 10_000
# Reuse keys looked up by one query (SQLite takes at most 32766 bound parameters).
_KEY_CHUNK = 10_000


class Reusable(NamedTuple):
    """A completed job, as a launch that may reuse its result finds it (`Store.reusable`); its
    summary's copy, which may be large, is read only for the jobs taken (`result_summaries`)."""

    key: str
    job_id: int
    sweep_id: str
    num: int
    attempt: int
    spool_dir: str
    output_dir: str | None
    exit_code: int | None


class Store:
    """One store (a SQLite file or a PostgreSQL database); open it with `Store.open`, which also
    brings its schema up to date."""

    def __init__(self, location: Location, engine: Engine) -> None:
        self.location = location
        # The SQLite file (None for PostgreSQL), and the store as messages and printed commands
        # name it: never with a password.
        self.path: Path | None = location.path
        self.display = location.display
        self._engine = engine
        self._writer = sessionmaker(engine, expire_on_commit=False)
        self._reader = sessionmaker(
            engine.execution_options(tsq_readonly=True), expire_on_commit=False
        )

    @classmethod
    def open(
        cls,
        location: str | os.PathLike[str] | None = None,
        *,
        create: bool = False,
        patience: float = PATIENCE_S,
    ) -> Store:
        """The store at `location` (default: `default_location()`), its schema brought up to
        date. Only a launch passes `create`: every other command refuses a store that does not
        exist (see `open_engine`). A command that waits on jobs for hours passes a longer
        `patience` (`LONG_PATIENCE_S`): how long it goes on trying a database server that
        restarted before it gives up."""
        return cls(*open_engine(location, create=create, patience=patience))

    def close(self) -> None:
        """Close the store's connections (a long-lived process may want them gone)."""
        self._engine.dispose()

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
        except (exc.OperationalError, exc.InterfaceError) as e:
            raise self.location.describe(e) from None

    def _transaction(self, work: Callable[[Session], T], *, write: bool = True) -> T:
        """`work(session)` in a transaction, committed; run again from the start when it could
        not finish for a reason that passes (then nothing of it was written, and `work` decides
        again from what it reads):

        - PostgreSQL aborted it as a deadlock or a serialization failure: a few times, after a
          short random pause;
        - the connection dropped (the server restarted): for the location's `patience`
          seconds, while the engine reconnects (`tsq.store.engine`).

        Any other database error, or the last of these, is a StoreError."""
        factory = self._writer if write else self._reader

        def run() -> T:
            for aborted in range(1, TRANSACTION_ATTEMPTS + 1):
                try:
                    with factory.begin() as session:
                        return work(session)
                except exc.OperationalError as e:
                    if aborted == TRANSACTION_ATTEMPTS or not _transient(e):
                        raise
                    time.sleep(random.uniform(0, RETRY_PAUSE_S * 2 ** (aborted - 1)))
            raise AssertionError("unreachable: the last attempt returns or raises")

        try:
            return self.location.outlast(run)
        except (exc.OperationalError, exc.InterfaceError) as e:
            raise self.location.describe(e) from None

    def _read(self, work: Callable[[Session], T]) -> T:
        """`work(session)` in a read-only transaction, run again like `_transaction`'s."""
        return self._transaction(work, write=False)

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
        self, lease: str, submitted: Mapping[int, tuple[int, float, str | None]]
    ) -> None:
        """Record the queue ids that jobs (by job id) got when the holder of `lease` queued
        them, when, and the queue instance each went to (`tsq.launch.submit.Submitted`), and end its
        claim on them. Conditional on the lease: only the command that queued an attempt
        records where it went."""
        if not submitted:
            return
        self._end_claims(
            lease,
            {
                "queue_id": bindparam("new_queue_id"),
                "submitted_at": bindparam("new_submitted_at"),
                "server_id": bindparam("new_server_id"),
            },
            [
                {
                    "job": job_id,
                    "new_queue_id": queue_id,
                    "new_submitted_at": at,
                    "new_server_id": server,
                }
                for job_id, (queue_id, at, server) in submitted.items()
            ],
        )

    def claim(self, jobs: Sequence[Job], intent: str, lease: str) -> list[Job]:
        """Mark active jobs as being worked on by the holder of `lease`; returns those claimed.

        A job is claimed only if its row is still the version read (nobody wrote it since) and
        no live command holds it: the caller leaves out jobs whose lease is held.
        """
        at = now()
        ordered = sorted(jobs, key=lambda job: job.id)

        def work(session: Session) -> list[Job]:
            claimed: list[Job] = []
            for job in ordered:
                result = session.execute(
                    update(Job)
                    .where(
                        Job.id == job.id,
                        Job.version == job.version,
                        Job.state.in_(_ACTIVE),
                    )
                    .values(intent=intent, lease=lease, version=Job.version + 1, updated_at=at)
                )
                if result.rowcount:  # type: ignore[attr-defined]
                    claimed.append(job)
            return claimed

        return self._transaction(work)

    def release(self, sweep_id: str, lease: str) -> None:
        """End the claims of `lease` on the sweep's jobs (its holder is done with them)."""
        held = (Job.sweep_id == sweep_id, Job.lease == lease)

        def work(session: Session) -> None:
            _lock_jobs(session, session.scalars(select(Job.id).where(*held)))
            session.execute(
                update(Job)
                .where(*held)
                .values(intent=None, lease=None, version=Job.version + 1, updated_at=now())
            )

        self._transaction(work)

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
        sources = sorted(s for s in sources_of(JobState.CANCELLED) if not s.terminal)
        return self._end_claims(
            lease,
            {
                "state": JobState.CANCELLED,
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
                updated_at=now(),
            )
        )
        ordered = sorted(rows, key=lambda row: int(row["job"]))

        def work(session: Session) -> int:
            return int(session.connection().execute(statement, ordered).rowcount)

        return self._transaction(work)

    def new_attempts(
        self, jobs: Sequence[Job], labels: Sequence[str], lease: str, host: str | None = None
    ) -> list[Job]:
        """Archive each job's ended attempt and make its row a new, queued one with `label`,
        claimed by the holder of `lease` (which is about to queue it on `host`, default this
        host).

        One transaction; a job whose row changed since it was read (another retry) or that
        may not be renewed is left alone and not returned. Terminal attempts never change:
        they move, as they are, to `attempts`.
        """
        at = now()
        host = host or this_host()
        # In id order, like every write of several jobs (see the module's docstring).
        pairs = sorted(zip(jobs, labels, strict=True), key=lambda pair: pair[0].id)

        def work(session: Session) -> list[Job]:
            renewed: list[Job] = []
            for job, label in pairs:
                # FOR UPDATE: on PostgreSQL a second retry of the job waits here until the first
                # commits, then finds a newer version and leaves the job alone (without the lock
                # both archived the same attempt number: a UniqueViolation). SQLite's BEGIN
                # IMMEDIATE already serialises the two (and it ignores FOR UPDATE).
                current = session.scalars(
                    select(Job)
                    .where(Job.id == job.id, Job.version == job.version)
                    .with_for_update()
                ).first()
                if current is None or not can_renew(current.state):
                    continue
                archived = {name: getattr(current, name) for name in ATTEMPT_FIELDS}
                session.add(Attempt(job_id=current.id, number=current.attempt, **archived))
                for name in ATTEMPT_FIELDS:
                    setattr(current, name, None)
                current.output_dir = archived["output_dir"]
                current.label = label
                current.host = host
                current.state = JobState.QUEUED
                current.attempt += 1
                current.restarts = 0  # a new submission's first run
                current.version += 1
                current.intent = INTENT_SUBMIT
                current.lease = lease
                current.updated_at = at
                renewed.append(current)
            return renewed

        return self._transaction(work)

    def record_reruns(self, reruns: Sequence[Rerun]) -> list[int]:
        """Archive the earlier runs of jobs their queue ran again (`Rerun`), each as the attempt
        it was; the job's row becomes its latest run, queued (the refresh then decides it from
        that run's own files). Conditional on the version decided from, like `apply`; returns
        the ids of the jobs changed."""
        for rerun in reruns:
            for end in rerun.ended:
                if not end.state.terminal or not can_transition(rerun.seen, end.state):
                    raise ValueError(f"job {rerun.job_id}: a run cannot end {end.state}")
        ordered = sorted(reruns, key=lambda rerun: rerun.job_id)

        def work(session: Session) -> list[int]:
            changed: list[int] = []
            for rerun in ordered:
                current = session.scalars(
                    select(Job)
                    .where(Job.id == rerun.job_id, Job.version == rerun.version)
                    .with_for_update()
                ).first()
                if current is None or current.state.terminal:
                    continue
                for end in rerun.ended:
                    run = {name: getattr(current, name) for name in ATTEMPT_FIELDS}
                    for name in UPDATE_FIELDS:
                        if getattr(end, name) is not None:
                            run[name] = getattr(end, name)
                    run["state"] = end.state
                    session.add(Attempt(job_id=current.id, number=current.attempt, **run))
                    current.attempt += 1
                    current.restarts += 1
                for name in ("reason", "exit_code", "signal", "started_at", "ended_at"):
                    setattr(current, name, None)
                current.state = JobState.QUEUED
                current.version += 1
                current.updated_at = now()
                changed.append(current.id)
            return changed

        return self._transaction(work)

    def forget(self, sweep_id: str) -> int:
        """Drop a sweep and its jobs' records (never their files); returns how many jobs."""

        def work(session: Session) -> int:
            # Locked: two forgets of one sweep count and delete it once.
            sweep = session.get(Sweep, sweep_id, with_for_update=True)
            if sweep is None:
                return 0
            count = len(sweep.jobs)
            session.delete(sweep)
            return count

        return self._transaction(work)

    def apply(self, updates: Sequence[JobUpdate]) -> int:
        """Apply state changes; returns how many jobs changed.

        Each update is checked against the transition table (from the state it was decided
        from), and its UPDATE is conditional on the row version it was decided from: a writer
        that read the job before someone else wrote it (another refresh, a retry that made a
        new attempt, a cancel that claimed it) changes nothing, and the next refresh decides
        again from what is true then. Updates of the same shape (target state, fields set) run
        as one statement over many rows: a refresh after a thousand jobs ended is one
        executemany, not a thousand statements to build. The rows are locked in id order first,
        so two refreshes never lock them in opposite orders (which deadlocked one of them).
        """
        at = now()
        Shape = tuple[JobState, tuple[str, ...], bool]
        shapes: dict[Shape, list[dict[str, Any]]] = defaultdict(list)
        for u in updates:
            if not can_transition(u.seen, u.state):
                raise ValueError(f"job {u.job_id}: no transition from {u.seen} to {u.state}")
            values = {
                name: value
                for name, value in asdict(u).items()
                if value is not None and name in UPDATE_FIELDS
            }
            shapes[(u.state, tuple(sorted(values)), u.release)].append(
                {
                    "job": u.job_id,
                    "seen_version": u.version,
                    **{f"new_{name}": value for name, value in values.items()},
                }
            )
        table = Job.__table__

        def work(session: Session) -> int:
            _lock_jobs(session, (u.job_id for u in updates))
            changed = 0
            for (state, names, release), rows in shapes.items():
                held = {} if not release else {"intent": None, "lease": None}
                statement = (
                    update(table)
                    .where(
                        table.c.id == bindparam("job"),
                        table.c.version == bindparam("seen_version"),
                    )
                    .values(
                        state=state,
                        updated_at=at,
                        version=table.c.version + 1,
                        **held,
                        **{name: bindparam(f"new_{name}") for name in names},
                    )
                )
                changed += session.connection().execute(statement, rows).rowcount
            return changed

        return self._transaction(work)

    # -- reads ----------------------------------------------------------------------------------

    def active_jobs(
        self, sweep_id: str | None = None, ids: Sequence[int] | None = None
    ) -> list[Job]:
        """Queued and running jobs (of one sweep, or with these ids, if given) with their
        sweep loaded: what a status refresh must check."""
        query = (
            select(Job)
            .join(Job.sweep)
            .options(contains_eager(Job.sweep))
            .where(Job.state.in_(_ACTIVE))
            .order_by(Sweep.created_at, Sweep.id, Job.num)
        )
        if sweep_id is not None:
            query = query.where(Job.sweep_id == sweep_id)
        if ids is not None:
            query = query.where(Job.id.in_(list(ids)))
        return self._read(lambda session: list(session.scalars(query)))

    def jobs(
        self,
        sweep_ids: Sequence[str],
        *,
        history: bool = False,
        ids: Sequence[int] | None = None,
    ) -> list[Job]:
        """The jobs of the given sweeps (only those with `ids`, if given), each with its sweep
        (and, if asked, its earlier attempts) loaded, oldest sweep first."""
        query = (
            select(Job)
            .join(Job.sweep)
            .options(contains_eager(Job.sweep))
            .where(Job.sweep_id.in_(list(sweep_ids)))
            .order_by(Sweep.created_at, Sweep.id, Job.num)
        )
        if ids is not None:
            query = query.where(Job.id.in_(list(ids)))
        if history:
            query = query.options(selectinload(Job.history))
        return self._read(lambda session: list(session.scalars(query)))

    def reusable(self, keys: Sequence[str]) -> dict[str, list[Reusable]]:
        """Key -> the completed jobs with that reuse key (`Job.reuse_key`), newest first: what
        a launch with `reuse=true` may reuse. One query over the key's index for a batch
        (per `_KEY_CHUNK` keys, under the databases' limits on bound parameters)."""
        wanted = sorted(set(keys))
        query = (
            select(
                Job.reuse_key, Job.id, Job.sweep_id, Job.num, Job.attempt, Sweep.spool_dir,
                Job.output_dir, Job.exit_code,
            )
            .join(Job.sweep)
            .where(Job.reuse_key.in_(bindparam("keys", expanding=True)))
            .where(Job.state == JobState.COMPLETED)
            .order_by(Job.id.desc())
        )  # fmt: skip

        def read(session: Session) -> dict[str, list[Reusable]]:
            found: dict[str, list[Reusable]] = defaultdict(list)
            for start in range(0, len(wanted), _KEY_CHUNK):
                chunk = wanted[start : start + _KEY_CHUNK]
                for row in session.execute(query, {"keys": chunk}):
                    found[row[0]].append(Reusable(*row))
            return dict(found)

        return self._read(read)

    def result_summaries(self, ids: Sequence[int]) -> dict[int, str | None]:
        """Job id -> the store's copy of its result summary (None: it has none), for these
        jobs: one query per `_KEY_CHUNK` of them."""
        wanted = sorted(set(ids))
        query = select(Job.id, Job.result_summary).where(
            Job.id.in_(bindparam("ids", expanding=True))
        )

        def read(session: Session) -> dict[int, str | None]:
            found: dict[int, str | None] = {}
            for start in range(0, len(wanted), _KEY_CHUNK):
                chunk = wanted[start : start + _KEY_CHUNK]
                found.update(
                    (job_id, summary) for job_id, summary in session.execute(query, {"ids": chunk})
                )
            return found

        return self._read(read)

    def sweeps(self, *, active_or_since: float | None = None) -> list[Sweep]:
        """Sweeps, newest first; with `active_or_since`, only the unfinished or recent ones."""
        query = select(Sweep).order_by(Sweep.created_at.desc(), Sweep.id)
        if active_or_since is not None:
            # IN over the state index reads only the active jobs; an EXISTS per sweep would
            # read every job of history (25 ms at 100k jobs, measured; this: under 1 ms).
            active = select(Job.sweep_id).where(Job.state.in_(_ACTIVE))
            query = query.where(or_(Sweep.created_at >= active_or_since, Sweep.id.in_(active)))
        return self._read(lambda session: list(session.scalars(query)))

    def job_fields(self, sweep_id: str, names: Sequence[str]) -> list[Any]:
        """The sweep's jobs in job order, as plain rows of the `Job` fields `names`: a Core
        query, not ORM objects (a third of the time on 10k jobs, measured; the page)."""
        query = (
            select(*(getattr(Job, name) for name in names))
            .where(Job.sweep_id == sweep_id)
            .order_by(Job.num)
        )
        with self.session(write=False) as session:
            return list(session.execute(query))

    def state_counts(self) -> dict[str, dict[str, int]]:
        """Sweep id -> state -> number of jobs, in one grouped query (not one row per job)."""
        counts: dict[str, dict[str, int]] = {}
        query = select(Job.sweep_id, Job.state, func.count()).group_by(Job.sweep_id, Job.state)
        with self.session(write=False) as session:
            for sweep_id, state, n in session.execute(query):
                counts.setdefault(sweep_id, {})[str(state)] = int(n)
        return counts

    def fingerprints(self) -> dict[str, tuple[Any, ...]]:
        """Sweep id -> what changes whenever any of its jobs changes (per state: how many, the
        latest update, the sum of row versions), in one grouped query: the page rebuilds a
        sweep's document only when its fingerprint changed."""
        found: dict[str, list[Any]] = {}
        changes = (func.count(), func.max(Job.updated_at), func.sum(Job.version))
        query = select(Job.sweep_id, Job.state, *changes).group_by(Job.sweep_id, Job.state)
        with self.session(write=False) as session:
            for row in session.execute(query):
                found.setdefault(row[0], []).append(tuple(str(v) for v in row[1:]))
        return {k: tuple(sorted(v)) for k, v in found.items()}

    def has_sweep(self, sweep_id: str) -> bool:
        """Whether the store records the sweep with this exact id."""
        return self._read(lambda session: session.get(Sweep, sweep_id) is not None)

    def find_sweep(self, ref: str | None) -> Sweep:
        """The sweep a user means by `ref`: an id, a unique id prefix or a sweep directory.

        None means the latest sweep. A directory matches on its real path, so symlinks and
        relative paths work; if several sweeps ran into the same directory, the latest wins.
        """

        def find(session: Session) -> Sweep | list[Sweep]:
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

            return list(
                session.scalars(
                    select(Sweep)
                    .where(Sweep.id.startswith(ref, autoescape=True))
                    .order_by(Sweep.created_at.desc())
                )
            )

        found = self._read(find)
        if isinstance(found, Sweep):
            return found
        matches = found
        if not matches:
            raise SweepNotFound(f"no sweep matches {ref!r}")
        if len(matches) > 1:
            shown = ", ".join(s.id for s in matches[:3]) + (", ..." if len(matches) > 3 else "")
            raise SweepNotFound(
                f"{ref!r} is ambiguous: matches {len(matches)} sweeps ({shown});"
                " type more characters"
            )
        return matches[0]


def _transient(error: exc.OperationalError) -> bool:
    """Whether PostgreSQL aborted the transaction only so that another could go on."""
    return getattr(error.orig, "sqlstate", None) in _TRANSIENT


def _lock_jobs(session: Session, ids: Iterable[int]) -> None:
    """Lock the jobs' rows (PostgreSQL), in id order: the first statement of a write that
    touches several jobs in an order of its own (`apply` groups them by shape), so that every
    writer takes the locks in one order and none waits for another that waits for it. SQLite
    needs nothing: BEGIN IMMEDIATE already lets one writer in at a time."""
    if session.get_bind().dialect.name != "postgresql":
        return
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), _LOCK_CHUNK):
        chunk = ordered[start : start + _LOCK_CHUNK]
        # PostgreSQL locks the rows as the sorted rows come out (LockRows above Sort).
        session.execute(
            select(Job.id).where(Job.id.in_(chunk)).order_by(Job.id).with_for_update()
        ).all()
