"""Queue backends: everything specific to one queue behind one interface.

A backend queues job runners (`python -m tsq.runner SPEC NUM [ATTEMPT [RESTART]]`), looks at its
queue once per refresh and turns what it prints into typed `QueueRow`s matched to jobs by label,
says why an ended job ended, and stops jobs. Nothing outside this package parses a queue's output
or runs its commands, and the refresh policy (`tsq.refresh.decide.decide`) sees only `QueueRow`s.

Adding a backend: a module here with a class that implements `Backend` (its pure parsers in a
module of their own), and its name in `_REGISTRY`. A sweep records the backend it was queued with
(`Sweep.backend`), and `backend_for` gives it back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:  # the barrier and the runner import this package without the store
    from tsq.backends.queueing import QueueOptions
    from tsq.store import Sweep


class RowState(Enum):
    """A queue row's state, as the refresh needs it."""

    QUEUED = "queued"  # waiting for its turn (or for resources)
    RUNNING = "running"
    ENDED = "ended"  # ran and ended: exit code or signal in the row, when known
    SKIPPED = "skipped"  # will never run (a job it depended on failed)

    @property
    def active(self) -> bool:
        """Still to run or running: a dependent job (`depends_on`) waits for it."""
        return self in (RowState.QUEUED, RowState.RUNNING)


@dataclass(frozen=True)
class QueueRow:
    """One job attempt as its queue shows it."""

    queue_id: int
    label: str | None
    state: RowState
    exit_code: int | None = None
    signal: int | None = None
    run_time: float | None = None  # seconds, for an ended job
    # An ended row whose listing cannot tell its exit code from a signal: `Queue.explain`.
    ambiguous: bool = False
    task: int | None = None  # the array task (Slurm), with `queue_id` the array's id
    reason: str | None = None  # why a SKIPPED row will never run, or what a queued one awaits
    # How many times the queue started this submission again (Slurm's requeue, preemption);
    # None for a queue that never does (ts). Each run is an attempt of its own (`runner_argv`).
    restarts: int | None = None
    # Why the queue ran it again, one per earlier run, oldest first, where it says (Slurm's
    # sacct: "NODE_FAIL"...); shorter than `restarts` when it does not say for every run.
    rerun_causes: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobRef:
    """One job attempt as a queue needs it to queue or find it: its number, attempt, label
    (unique to the attempt), the queue id recorded for it (None until it is recorded) and
    where in that submission it is (`Queued.place`). A `tsq.store.Job` has the same attributes
    (`queue_id` for `queue_id`, `server_id` for `place`): `JobRef.of`."""

    num: int
    attempt: int
    label: str
    queue_id: int | None = None
    place: str | None = None

    @classmethod
    def of(cls, job: Any) -> JobRef:
        return cls(job.num, job.attempt, job.label, job.queue_id, job.server_id)


class Queued(NamedTuple):
    """One job as `Backend.submit_batch` queued it: its queue id and, for a queue whose id is
    shared by several jobs, where in that submission it is (Slurm: its array task id, which
    need not be its number). The store keeps `place` as the attempt's `server_id`; None lets
    the caller record the queue instance there (`Backend.server_id`, ts)."""

    job: JobRef
    queue_id: int
    place: str | None = None


@dataclass(frozen=True)
class Stopped:
    """What `Backend.stop` did to one row: taken out of the queue before it started, sent
    SIGTERM, neither (the queue refused: it had ended), or not done because of `error`."""

    removed: bool = False
    killed: bool = False
    error: str | None = None


class Queue(Protocol):
    """One look at a queue, taken once per refresh."""

    name: str  # "ts": in reasons ("never queued in ts")
    title: str  # "task-spooler": in reasons ("removed from task-spooler's queue")
    where: str  # "the ts server on /tmp/socket": in reasons and warnings
    forgetting: str  # when a queue forgets jobs: "its server restarted or pruned ..."
    alive: bool  # the queue answers; False only on positive evidence that it is gone
    server_id: str | None  # which instance of the queue answered (`Backend.server_id`)
    # Every row the queue printed was read: a job missing from an incomplete listing may be
    # in a row that could not be read, so its absence proves nothing.
    complete: bool

    def find(self, job: JobRef) -> QueueRow | None:
        """The job attempt's row; None when the queue does not list it. ts matches by label
        (`tsq.files.labels.match`); Slurm's array tasks share a name, and match by array id and
        task (the job's number)."""
        ...

    def explain(self, row: QueueRow) -> QueueRow:
        """An ambiguous ended row with its exit code or signal, asked of the queue; the row
        as it is when the queue cannot tell."""
        ...


class Backend(Protocol):
    """A queue that tsq can put jobs in (frozen and hashable: refreshes group jobs by it)."""

    name: str  # its name in the registry and in `<name>:ID` (`depends_on=ts:12`)
    title: str  # "task-spooler": in messages
    where: str  # "the ts server on /tmp/socket": in messages
    # Whether a job can wait for any number of others (Slurm's afterany) or for one only (ts):
    # `tsq.launch.depends`.
    waits_for_many: bool

    def recorded(self) -> dict[str, Any]:
        """What a sweep records to get this backend back (`Sweep` columns: `backend`,
        `backend_variant` and the queue's own `backend_record`; `from_record`)."""
        ...

    def describe(self) -> str:
        """Where the jobs went, for the launcher's summary ("ts socket : /tmp/socket")."""
        ...

    def check_resources(self, options: QueueOptions) -> None:
        """Refuse (BackendError) what this queue cannot honour, before anything is queued."""
        ...

    def submit(
        self,
        argv: Sequence[str],
        label: str,
        options: QueueOptions,
        *,
        after: int | None = None,
        pass_fds: Sequence[int] = (),
    ) -> int:
        """Queue one command `argv` labelled `label` (a barrier job); its queue id. `after`:
        a queue id it must wait for, whatever becomes of that job; `pass_fds` stay open in
        the queueing process (`tsq.files.lease.Lease.hold_for`)."""
        ...

    def submit_batch(
        self,
        spec: Path,
        jobs: Sequence[JobRef],
        options: QueueOptions,
        *,
        after: Sequence[int] = (),
        hold: Callable[[JobRef], int],
    ) -> Iterator[Queued]:
        """Queue the job runners of `jobs` (all of batch spec `spec`), yielding each job with
        its queue id (`Queued`) as soon as it is queued, so that a failure part-way leaves
        those queued known (ts queues one at a time; Slurm one array at a time). `after`:
        queue ids they wait for, however those end. `hold(job)` gives a lease descriptor
        (`Lease.hold_for`) that the queueing process must keep open while it may still queue
        `job`; the backend closes it."""
        ...

    def server_id(self) -> str | None:
        """The identity of the queue instance jobs go to now (None: unknown)."""
        ...

    def batch_unit(self) -> int:
        """A launch that queues a large batch in parts cuts it at multiples of this many jobs,
        so that no part splits what the queue takes in one call (Slurm: `MaxArraySize`, the
        arrays `submit_batch` makes; ts: 1)."""
        ...

    def reachable_here(self) -> bool:
        """Whether this host can ask the queue that jobs queued on another host went to:
        ts never (a server lives on its host, whatever its socket path), Slurm when this
        host's clients reach the same cluster (`tsq.refresh.reach.Reach`)."""
        ...

    def look(self, jobs: Sequence[JobRef], warnings: list[str]) -> Queue | None:
        """The queue as it is now, for finding `jobs` (a backend may ask only about those:
        Slurm asks sacct for their ids); None (and a warning) when it could not be asked."""
        ...

    def has_job(self, queue_id: int) -> bool:
        """Whether the queue lists `queue_id` (`depends_on=ts:ID`)."""
        ...

    def job_output(self, text: str) -> str:
        """The job's own output, from the text of the file the queue captured it in (without
        what the queue adds to that file)."""
        ...

    def stop(self, rows: Sequence[QueueRow]) -> list[Stopped]:
        """Take queued jobs (their rows, from `Queue.find`) out and stop running ones with
        SIGTERM, in as few calls as the queue allows (Slurm: one scancel for them all); what
        was done to each row, in order."""
        ...


# name -> "module:class"; imported on demand, so a barrier or a refresh of ts sweeps never
# imports another backend's code.
_REGISTRY = {"ts": "tsq.backends.ts:TsBackend", "slurm": "tsq.backends.slurm:SlurmBackend"}


def _backend_class(name: str) -> Any:
    import importlib

    from tsq.errors import TsqError

    where = _REGISTRY.get(name)
    if where is None:
        raise TsqError(
            f"jobs were queued with the {name!r} backend, which this tsq does not know; upgrade tsq"
        )
    module, attribute = where.split(":")
    return getattr(importlib.import_module(module), attribute)


def detect(name: str, **location: Any) -> Backend:
    """The queue `name` (`tsq.options.CommonOptions.queue`) at `location` (its
    `queue_location()`), found and checked: a launch's backend."""
    backend: Backend = _backend_class(name).detect(**location)
    return backend


def backend_for(sweep: Sweep) -> Backend:
    """The backend a recorded sweep was queued with, as recorded (not detected again)."""
    return from_record({column.key: getattr(sweep, column.key) for column in sweep.__table__.c})


def current_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A backend record (a sweep's row, a barrier's watch list) as this tsq writes it, from
    files that older versions left: before revision 0009 a sweep kept its queue's location in
    `ts_binary` and `ts_socket` (for Slurm, "sbatch" and its SLURM_CONF); before backends were
    recorded, every sweep went to ts."""
    current = {"backend": "ts", **record}
    if "backend_record" in current:
        return current
    binary, socket = current.pop("ts_binary"), current.pop("ts_socket")
    old = (
        {"conf": socket} if current["backend"] == "slurm" else {"binary": binary, "socket": socket}
    )
    return {**current, "backend_record": old}


def from_record(record: Mapping[str, Any]) -> Backend:
    """A backend from what it `recorded()` (a sweep's columns, a barrier's watch list)."""
    backend: Backend = _backend_class(record["backend"]).of_record(record)
    return backend
