"""Bring the store up to date: one look at each queue plus the jobs' own files.

Only jobs not yet in a terminal state are looked at, so a refresh costs the same whether the store
holds a hundred finished jobs or a million. `decide` is the whole policy, pure, backend-neutral and
tested alone: it sees a queue only as `QueueRow`s and `QueueFacts` (`tsq.backends`). `refresh`
gathers what it needs and writes the outcome in one transaction, through the transition table, so
concurrent refreshes agree and terminal states never change.
"""

from __future__ import annotations

import signal as signals
import socket as socketlib
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from tsq.backends import Backend, Queue, QueueRow, RowState, backend_for
from tsq.errors import SpecError
from tsq.lease import held
from tsq.results import ResultSummary, read_summary
from tsq.spool import SpoolDir
from tsq.started import Started, read_started
from tsq.states import JobState
from tsq.store import INTENT_CANCEL, UPDATE_FIELDS, Job, JobUpdate, Store
from tsq.submit import lease_part, runner_argv


@dataclass(frozen=True)
class Observation:
    """Everything known about one active job at one moment, whatever its queue."""

    queue: QueueFacts
    row: QueueRow | None = None  # its row in the queue, only if the label matches
    result: ResultSummary | None = None
    result_problem: str | None = None  # a result file exists but cannot be used
    started: Started | None = None  # the runner's `started` record
    runner_alive: bool = False  # the job's own process still runs (its queue may have forgotten it)
    lease_held: bool = False  # a live command (launcher, retry, cancel) is working on the job


@dataclass(frozen=True)
class QueueFacts:
    """What a refresh knows of the queue itself (`tsq.backends.Queue`), for the reasons."""

    name: str
    title: str
    where: str
    forgetting: str
    alive: bool = True
    server_id: str | None = None  # the identity of the queue instance that answered
    complete: bool = True  # every row the queue printed was read (`tsq.backends.Queue`)

    @classmethod
    def of(cls, queue: Queue) -> QueueFacts:
        return cls(
            queue.name,
            queue.title,
            queue.where,
            queue.forgetting,
            queue.alive,
            queue.server_id,
            queue.complete,
        )


def signal_name(number: int) -> str:
    try:
        return signals.Signals(number).name
    except ValueError:
        return f"signal {number}"


CANCELLED_REASON = "cancelled with `tsq cancel`"


def _from_result(job: Job, result: ResultSummary) -> JobUpdate:
    return JobUpdate.of(
        job,
        result.state,
        reason=result.error,
        exit_code=result.exit_code,
        started_at=result.started_at,
        ended_at=result.ended_at,
        output_dir=result.output_dir,
    )


def _ended_without_result(job: Job, row: QueueRow, started: Started | None) -> JobUpdate:
    if row.signal is not None:
        why = f"killed by {signal_name(row.signal)} before it wrote a result"
    elif row.exit_code is not None:
        why = f"exited with code {row.exit_code} without writing a result"
    else:
        why = "ended without writing a result"
    started_at = started.started_at if started else None
    # When it ended, not when a refresh noticed: queues keep the run time of ended jobs.
    ended_at = (
        started_at + row.run_time
        if started_at is not None and row.run_time is not None
        else time.time()
    )
    return JobUpdate.of(
        job,
        JobState.FAILED,
        reason=why,
        exit_code=row.exit_code,
        signal=row.signal,
        started_at=started_at,
        ended_at=ended_at,
        output_dir=started.output_dir if started else None,
    )


def decide(job: Job, obs: Observation) -> JobUpdate | None:
    """The state a job should have given what was observed; None to leave it as it is.

    A queue row found by label under another id (the launcher stopped before recording the id)
    also records that id and the queue instance it is in. A job that names a lease nobody holds
    any more has its claim cleared, whatever else is decided.
    """
    update = _decide(job, obs)
    row = obs.row
    if row is not None and row.queue_id != job.ts_id:
        update = replace(
            update or JobUpdate.of(job, job.state),
            ts_id=row.queue_id,
            server_id=job.server_id or obs.queue.server_id,
        )
    if job.lease is not None and not obs.lease_held:
        update = replace(update or JobUpdate.of(job, job.state), release=True)
    return update


def _running(job: Job, started: Started | None) -> JobUpdate:
    return JobUpdate.of(
        job,
        JobState.RUNNING,
        started_at=started.started_at if started else None,
        output_dir=started.output_dir if started else None,
    )


def _decide(job: Job, obs: Observation) -> JobUpdate | None:
    """The policy. `lost` needs positive evidence: the queue is gone or was replaced, or the
    job ran and ended without a result and its queue forgot it. Nothing is decided from the
    queue's silence while a live command (its lease held) is queueing or cancelling the job,
    nor from a listing that printed rows it could not read (`QueueFacts.complete`).

    A job the queue has not listed *yet* is never taken for removed: task-spooler (both
    variants) does not list a job whose client it holds back for want of connections, but that
    client gets no id until the job is taken, so such a job has no recorded id, and the command
    queueing it holds its lease (passed to the ts client) until then: it is left as it is."""
    if obs.result_problem is not None:
        return JobUpdate.of(job, JobState.FAILED, reason=obs.result_problem)
    if obs.result is not None:
        return _from_result(job, obs.result)
    cancelling = job.intent == INTENT_CANCEL
    row, queue = obs.row, obs.queue
    if row is not None:
        if row.state is RowState.ENDED:
            if cancelling and obs.lease_held:
                return None  # `tsq cancel` stopped it and is recording that
            if cancelling and row.signal == signals.SIGTERM:
                # a cancel that stopped it, then died before recording
                return JobUpdate.of(job, JobState.CANCELLED, reason=CANCELLED_REASON)
            return _ended_without_result(job, row, obs.started)
        if row.state is RowState.SKIPPED:
            return JobUpdate.of(job, JobState.CANCELLED, reason=row.reason)
        if row.state is RowState.RUNNING or obs.started:
            return _running(job, obs.started)
        return None
    if obs.runner_alive:
        return _running(job, obs.started)
    if obs.lease_held:
        return None
    if cancelling:  # a cancel took it out of its queue, then died before recording that
        return JobUpdate.of(job, JobState.CANCELLED, reason=CANCELLED_REASON)
    if queue.alive and not queue.complete:
        return None  # its row may be one the listing printed but could not read
    if job.ts_id is None:
        why = f"never queued in {queue.name} (the command queueing it stopped before it did)"
    elif not queue.alive:
        why = f"{queue.where} is gone and the job left no result"
    elif job.server_id is not None and queue.server_id not in (None, job.server_id):
        why = (
            f"{queue.where} was restarted since job {job.ts_id} was queued in it, and the job "
            "left no result"
        )
    elif job.server_id is not None and queue.server_id == job.server_id and not obs.started:
        return JobUpdate.of(
            job,
            JobState.CANCELLED,
            reason=(
                f"removed from {queue.title}'s queue before it started "
                f"({queue.name} job {job.ts_id})"
            ),
            ended_at=time.time(),
        )
    else:
        why = (
            f"{queue.name} no longer lists job {job.ts_id} ({queue.forgetting}) and the job "
            "left no result"
        )
    return JobUpdate.of(job, JobState.LOST, reason=why)


def runner_alive(started: Started, spool: SpoolDir, job: Job) -> bool:
    """Is this job attempt's own process still running? Its whole command line must be the
    one its queue runs for it (`tsq.submit.runner_argv`): the pid alone may have been
    recycled, and a sibling job's runner shares the spec but not the job number or attempt."""
    try:
        cmdline = Path(f"/proc/{started.pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    args = cmdline.split("\0")[1:-1]  # without the interpreter and the trailing NUL
    expected = runner_argv(Path("SPEC"), job.num, job.attempt)[1:]
    return (
        len(args) == len(expected)
        and args[:2] == expected[:2]
        and Path(args[2]).parent == spool.root
        and args[3:] == expected[3:]
    )


@dataclass
class Refresh:
    """What a refresh changed, and what it could not find out (said on stderr by the CLI)."""

    changed: int = 0
    changed_sweeps: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def observe(job: Job, queue: Queue) -> Observation:
    """What is known of `job` now: its row in `queue`, its result and `started` files, and,
    on the host that queued it, its process and its lease."""
    sweep, spool = job.sweep, job.sweep.spool
    row = queue.find(job.label, job.ts_id)
    result: ResultSummary | None = None
    problem: str | None = None
    try:
        result = read_summary(spool.result_json(job.num, job.attempt))
    except SpecError as e:
        problem = str(e)
    started = _started(spool, job) if result is None else None
    if row is not None and row.ambiguous and result is None:
        row = queue.explain(row)
    local = sweep.hostname == socketlib.gethostname()
    return Observation(
        queue=QueueFacts.of(queue),
        row=row,
        result=result,
        result_problem=problem,
        started=started,
        runner_alive=started is not None and local and runner_alive(started, spool, job),
        # Another host's lease cannot be probed from here: never take it for dead.
        lease_held=job.lease is not None
        and (not local or held(spool.root, job.lease, lease_part(job))),
    )


def _started(spool: SpoolDir, job: Job) -> Started | None:
    """The job's `started` record; a damaged one counts as none (the result decides)."""
    try:
        return read_started(spool.started(job.num, job.attempt))
    except SpecError:
        return None


def _by_backend(jobs: Iterable[Job]) -> dict[Backend, list[Job]]:
    groups: dict[Backend, list[Job]] = defaultdict(list)
    for job in jobs:
        groups[backend_for(job.sweep)].append(job)
    return groups


def refresh(store: Store, sweep_id: str | None = None) -> Refresh:
    """Reconcile every queued or running job (of one sweep, if given). The queue is asked
    before the result files are read, so a job that ends in between is seen by its result,
    never mistaken for lost."""
    report = Refresh()
    updates: list[JobUpdate] = []
    for backend, jobs in _by_backend(store.active_jobs(sweep_id)).items():
        queue = backend.look(report.warnings)
        if queue is None:
            continue
        if not queue.alive:
            report.warnings.append(
                f"{queue.where} is not running; its jobs that left no result are marked lost"
            )
        for job in jobs:
            update = decide(job, observe(job, queue))
            if update is not None and _changes(job, update):
                updates.append(update)
                report.changed_sweeps.add(job.sweep_id)
    if updates:
        report.changed = store.apply(updates)
    return report


def _changes(job: Job, update: JobUpdate) -> bool:
    return (
        update.state != job.state
        or update.release
        or any(
            getattr(update, name) is not None and getattr(job, name) != getattr(update, name)
            for name in UPDATE_FIELDS
        )
    )
