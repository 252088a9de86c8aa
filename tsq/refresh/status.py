"""Bring the store up to date: one look at each queue plus the jobs' own files.

Only jobs not yet in a terminal state are looked at, so a refresh costs the same whether the store
holds a hundred finished jobs or a million. `decide` is the whole policy, pure, backend-neutral and
tested alone: it sees a queue only as `QueueRow`s and `QueueFacts` (`tsq.backends`). `refresh`
gathers what it needs and writes the outcome in one transaction, through the transition table, so
concurrent refreshes agree and terminal states never change.
"""

from __future__ import annotations

import signal as signals
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from tsq.backends import (
    Backend,
    JobRef,
    Queue,
    QueueRow,
    RowState,
    RunnerArgs,
    backend_for,
    runner_argv,
)
from tsq.errors import SpecError, TsqError
from tsq.files.lease import held
from tsq.files.results import ResultSummary, read_summary, stored_copy
from tsq.files.safeio import NotYours, private_exists
from tsq.files.spool import SpoolDir
from tsq.files.started import Started, read_started
from tsq.hosts import this_host
from tsq.launch.submit import lease_part
from tsq.render.words import plural
from tsq.states import JobState
from tsq.store import INTENT_CANCEL, INTENT_HOLD, UPDATE_FIELDS, Job, JobUpdate, Rerun, Store


@dataclass(frozen=True)
class Observation:
    """Everything known about one active job at one moment, whatever its queue.

    `queue` is None for a job whose queue cannot be asked from here (another host's ts, or a
    Slurm cluster this host does not reach: `Reach`), so only its files (shared with that
    host) are seen."""

    queue: QueueFacts | None
    row: QueueRow | None = None  # its row in the queue, only if the label matches
    result: ResultSummary | None = None
    result_problem: str | None = None  # a result file exists but cannot be used
    started: Started | None = None  # the runner's `started` record
    runner_alive: bool = False  # the job's own process still runs (its queue may have forgotten it)
    began: bool = False  # its queue ran its command (ts), whether or not the runner started
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
        result_summary=stored_copy(result),
    )


def _ended_without_result(job: Job, row: QueueRow, started: Started | None) -> JobUpdate:
    if row.reason is not None:  # the queue says more than an exit code (Slurm's TIMEOUT...)
        why = f"{row.reason} before it wrote a result"
    elif row.signal is not None:
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
    also records that id and where in the queue it is (`tsq.backends.Queued.place`). A job
    that names a lease nobody holds any more has its claim cleared, whatever else is decided.
    """
    update = _decide(job, obs)
    row = obs.row
    if row is not None and obs.queue is not None and row.queue_id != job.ts_id:
        # Where in the queue it is: its array task (Slurm), else the queue instance (ts).
        place = str(row.task) if row.task is not None else obs.queue.server_id
        update = replace(
            update or JobUpdate.of(job, job.state),
            ts_id=row.queue_id,
            server_id=job.server_id or place,
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
    nor from a listing that printed rows it could not read (`QueueFacts.complete`). A host that
    cannot ask a job's queue (`Reach`) decides from the job's files alone, and never that it
    failed without a result, was lost or cancelled.

    A job the queue has not listed *yet* is never taken for removed: task-spooler (both
    variants) does not list a job whose client it holds back for want of connections, but that
    client gets no id until the job is taken, so such a job has no recorded id, and the command
    queueing it holds its lease (passed to the ts client) until then: it is left as it is."""
    if obs.result_problem is not None:
        return JobUpdate.of(job, JobState.FAILED, reason=obs.result_problem)
    if obs.result is not None:
        return _from_result(job, obs.result)
    row, queue = obs.row, obs.queue
    if queue is None:  # another host's job: its `started` record is all there is to see
        return _running(job, obs.started) if obs.started else None
    cancelling = job.intent == INTENT_CANCEL
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
    if obs.lease_held or job.intent == INTENT_HOLD:
        return None  # being queued or cancelled by a live command; or held in the store
    if cancelling:  # a cancel took it out of its queue, then died before recording that
        return JobUpdate.of(job, JobState.CANCELLED, reason=CANCELLED_REASON)
    if queue.alive and not queue.complete:
        return None  # its row may be one the listing printed but could not read
    same_server = job.server_id is not None and queue.server_id == job.server_id
    if job.ts_id is None:
        why = f"never queued in {queue.name} (the command queueing it stopped before it did)"
    elif not queue.alive:
        why = f"{queue.where} is gone and the job left no result"
    elif job.server_id is not None and queue.server_id not in (None, job.server_id):
        why = (
            f"{queue.where} was restarted since job {job.ts_id} was queued in it, and the job "
            "left no result"
        )
    elif same_server and obs.began and not obs.started:
        why = (
            f"{queue.name} ran job {job.ts_id} but it ended before tsq's runner started in it "
            f"(could its Python not start?), and {queue.name} no longer lists it "
            f"({queue.forgetting})"
        )
    elif same_server and not obs.started:
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
    one its queue runs for it (`tsq.backends.runner_argv`): the pid alone may have been
    recycled, and a sibling job's runner shares the spec but not the job number or attempt."""
    try:
        cmdline = Path(f"/proc/{started.pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    args = cmdline.split("\0")[1:-1]  # without the interpreter and the trailing NUL
    if args[:2] != runner_argv(Path("SPEC"), job.num)[1:3]:
        return False
    run = RunnerArgs.parse(args[2:])
    return (
        run is not None
        and run.spec.parent == spool.root
        and (run.num, run.attempt) == (job.num, job.attempt)
    )


@dataclass
class Refresh:
    """What a refresh changed, and what it could not find out (said on stderr by the CLI)."""

    changed: int = 0
    changed_sweeps: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    # Active jobs of other hosts, by host: judged from their files only, not in their queue.
    unchecked: dict[str, int] = field(default_factory=dict)

    def messages(self) -> list[str]:
        """The warnings, then what could not be checked from here, as lines for stderr."""
        return self.warnings + ([unchecked_note(self.unchecked)] if self.unchecked else [])


@dataclass(frozen=True)
class RunFiles:
    """What one attempt's run left in the spool dir: its result, or why that cannot be used,
    and its `started` record (read only when there is no result)."""

    result: ResultSummary | None = None
    result_problem: str | None = None
    started: Started | None = None
    began: bool = False  # its queue ran its command (`SpoolDir.began`), read without a result

    @classmethod
    def read(cls, spool: SpoolDir, num: int, attempt: int) -> RunFiles:
        """NotYours when a file there is another user's: it cannot stand for the job's own,
        nor can its absence be trusted (it stands in their place), so nothing is decided."""
        try:
            result = read_summary(spool.result_json(num, attempt))
        except NotYours:
            raise
        except SpecError as e:
            return cls(result_problem=str(e))
        if result is not None:
            return cls(result=result)
        began = private_exists(spool.began(num, attempt))
        try:
            return cls(started=read_started(spool.started(num, attempt)), began=began)
        except NotYours:
            raise
        except SpecError:  # a damaged record counts as none: the result decides
            return cls(began=began)


RERUN_CAUSE = "requeued or preempted"  # when the queue does not say why it ran a job again


def decide_rerun(job: Job, title: str, runs: list[RunFiles], causes: Sequence[str] = ()) -> Rerun:
    """The policy for a job its queue ran again (`QueueRow.restarts` above the job's): each run
    before the latest (`runs`, from the job's current attempt on) ended as its own files say,
    or, without a result, failed because it was run again, for the cause the queue gives
    (`causes`, one per run in `runs`; `RERUN_CAUSE` for those it does not say)."""
    ended: list[JobUpdate] = []
    for n, files in enumerate(runs):
        if files.result_problem is not None:
            ended.append(JobUpdate.of(job, JobState.FAILED, reason=files.result_problem))
        elif files.result is not None:
            ended.append(_from_result(job, files.result))
        else:
            started = files.started
            what = "this run wrote a result" if started else "this run started"
            cause = causes[n] if n < len(causes) else RERUN_CAUSE
            ended.append(
                JobUpdate.of(
                    job,
                    JobState.FAILED,
                    reason=f"{title} ran it again ({cause}) before {what}",
                    started_at=started.started_at if started else None,
                    output_dir=started.output_dir if started else None,
                )
            )
    return Rerun(job.id, job.version, job.state, tuple(ended))


def observe(job: Job, queue: Queue | None) -> Observation:
    """What is known of `job` now: its row in `queue`, its result and `started` files, and,
    on the host that queued it, its process and its lease. Pass no queue for a job whose queue
    this host cannot ask (`Reach`): its files are all this host can see of it."""
    spool = job.sweep.spool
    local = is_local(job)
    row = queue.find(JobRef.of(job)) if queue is not None else None
    files = RunFiles.read(spool, job.num, job.attempt)
    started = files.started
    if row is not None and row.ambiguous and files.result is None:
        row = queue.explain(row)  # type: ignore[union-attr]
    return Observation(
        queue=QueueFacts.of(queue) if queue is not None else None,
        row=row,
        result=files.result,
        result_problem=files.result_problem,
        started=started,
        began=files.began,
        runner_alive=started is not None and local and runner_alive(started, spool, job),
        # Another host's lease cannot be probed from here: never take it for dead.
        lease_held=job.lease is not None
        and (not local or held(spool.root, job.lease, lease_part(job))),
    )


def is_local(job: Job) -> bool:
    """Was `job` (its latest attempt) queued on this host? Its process and its files outside
    the shared sweep dir are there; its queue may be reachable from other hosts too (`Reach`)."""
    return job.queued_on == this_host()


@dataclass
class Reach:
    """Which jobs' queues this host can ask, each backend asked once (`Backend.reachable_here`):
    its own jobs' always; another host's when their queue is not tied to that host (a Slurm
    cluster this host's clients reach too: same `ClusterName`), never for ts."""

    known: dict[Backend, bool] = field(default_factory=dict)

    def backend(self, host: str, backend: Backend) -> bool:
        """Can this host ask `backend`, the queue jobs went to on `host`?"""
        if host == this_host():
            return True
        if backend not in self.known:
            self.known[backend] = backend.reachable_here()
        return self.known[backend]

    def job(self, job: Job) -> bool:
        return self.backend(job.queued_on, backend_for(job.sweep))


def refuse_elsewhere(subject: str, queues: Iterable[tuple[str, Backend]], command: str) -> None:
    """Refuse, in one line naming the host where it works, a command that needs the queue of
    jobs queued on another host (`cancel`, `retry`), given as (host, backend) pairs, when this
    host cannot reach that queue (`Reach`)."""
    reach = Reach()
    elsewhere = sorted({host for host, backend in set(queues) if not reach.backend(host, backend)})
    if elsewhere:
        where = " and ".join(elsewhere)
        raise TsqError(
            f"{subject} was queued on host {where}, whose queue this host ({this_host()}) "
            f"cannot reach: run `{command}` on {where}"
        )


def _by_backend(jobs: Iterable[Job]) -> dict[Backend, list[Job]]:
    groups: dict[Backend, list[Job]] = defaultdict(list)
    for job in jobs:
        groups[backend_for(job.sweep)].append(job)
    return groups


def refresh(store: Store, sweep_id: str | None = None) -> Refresh:
    """Reconcile every queued or running job (of one sweep, if given). The queue is asked
    before the result files are read, so a job that ends in between is seen by its result,
    never mistaken for lost. Jobs whose queue this host cannot ask (`Reach`: another host's ts
    server, where the same socket path here is another server) are judged from their files
    only."""
    report = Refresh()
    updates: list[JobUpdate] = []
    active = _in_own_dirs(store.active_jobs(sweep_id), report.warnings)
    reach = Reach()
    remote = [job for job in active if not reach.job(job)]
    groups: list[tuple[Queue | None, list[Job]]] = [(None, remote)] if remote else []
    for backend, jobs in _by_backend(job for job in active if reach.job(job)).items():
        queue = backend.look([JobRef.of(job) for job in jobs], report.warnings)
        if queue is None:
            continue
        if not queue.alive:
            report.warnings.append(
                f"{queue.where} is not running; its jobs that left no result are marked lost"
            )
        groups.append((queue, jobs))
    unchecked: Counter[str] = Counter()
    for queue, jobs in _after_reruns(store, groups):
        for job in jobs:
            try:
                observed = observe(job, queue)
            except NotYours as e:
                report.warnings.append(f"{e}; job {job.num} of sweep {job.sweep_id} left as it was")
                continue
            update = decide(job, observed)
            if update is not None and _changes(job, update):
                updates.append(update)
                report.changed_sweeps.add(job.sweep_id)
            if queue is None and (update is None or not update.state.terminal):
                unchecked[job.queued_on] += 1
    report.unchecked = dict(unchecked)
    if updates:
        report.changed = store.apply(updates)
    held = [job for job in active if job.intent == INTENT_HOLD and is_local(job)]
    if held:  # the queue may have room for jobs held in the store (`tsq.ops.feed`)
        from tsq.ops.feed import feed

        report.changed += feed(store, held, report.warnings)
    return report


def _in_own_dirs(jobs: list[Job], warnings: list[str]) -> list[Job]:
    """The jobs whose spool dir is this user's own (`SpoolDir.check_owner`). The others are
    left as they are, with one warning per sweep: files another user could have written or
    swapped decide nothing."""
    refused: dict[str, bool] = {}
    for job in jobs:
        if job.sweep_id not in refused:
            try:
                job.sweep.spool.check_owner("its jobs are left as they were")
                refused[job.sweep_id] = False
            except NotYours as e:
                refused[job.sweep_id] = True
                warnings.append(str(e))
    return [job for job in jobs if not refused[job.sweep_id]]


def _after_reruns(
    store: Store, groups: list[tuple[Queue | None, list[Job]]]
) -> list[tuple[Queue | None, list[Job]]]:
    """The groups, once the earlier runs of jobs their queue ran again are archived as
    attempts (`decide_rerun`); those jobs are read again, as their latest run."""
    again: list[tuple[Queue | None, list[Job]]] = []
    for queue, jobs in groups:
        reruns: list[Rerun] = []
        for job in jobs:
            row = queue.find(JobRef.of(job)) if queue is not None else None
            if row is None or row.restarts is None or row.restarts <= job.restarts:
                continue
            spool = job.sweep.spool
            runs = [
                RunFiles.read(spool, job.num, job.attempt + n)
                for n in range(row.restarts - job.restarts)
            ]
            causes = row.rerun_causes[job.restarts :]  # the causes of the runs in `runs`
            reruns.append(decide_rerun(job, queue.title, runs, causes))  # type: ignore[union-attr]
        if reruns:
            changed = set(store.record_reruns(reruns))
            renewed = store.active_jobs(ids=sorted(changed)) if changed else []
            jobs = [job for job in jobs if job.id not in changed] + renewed
        again.append((queue, jobs))
    return again


def unchecked_note(unchecked: dict[str, int]) -> str:
    """What a refresh could not check (another host's queue), as one line for stderr."""
    hosts = ", ".join(f"{count} on host {host}" for host, count in sorted(unchecked.items()))
    total = plural(sum(unchecked.values()), "unfinished job")
    return (
        f"{total} not checked from here ({hosts}): this host cannot ask their queue; judged "
        "from their files only (`tsq status` on that host checks them)"
    )


def _changes(job: Job, update: JobUpdate) -> bool:
    return (
        update.state != job.state
        or update.release
        or any(
            getattr(update, name) is not None and getattr(job, name) != getattr(update, name)
            for name in UPDATE_FIELDS
        )
    )
