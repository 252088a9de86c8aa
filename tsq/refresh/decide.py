"""The refresh policy: what an observation of one active job means for its record.

Pure, backend-neutral and tested alone: `decide` sees a queue only as `QueueRow`s and
`QueueFacts` (`tsq.backends`), a job's files only as the records `observe` read, and returns
the update to write (through the transition table) or None. `decide_rerun` is the policy for a
job its queue ran again.
"""

from __future__ import annotations

import signal as signals
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from tsq.backends import Queue, QueueRow, RowState
from tsq.files.results import ResultSummary, stored_copy
from tsq.files.started import Started
from tsq.render.words import signal_name
from tsq.states import INTENT_CANCEL, INTENT_HOLD, JobState, JobUpdate, Rerun

if TYPE_CHECKING:  # types only: the policy reads no file and no store
    from tsq.refresh.observe import RunFiles
    from tsq.store import Job


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
    that names a lease nobody holds any more has its claim cleared, whatever else is decided,
    and so has a job held in the store that its queue lists.
    """
    update = _decide(job, obs)
    row = obs.row
    if row is not None and obs.queue is not None and row.queue_id != job.queue_id:
        # Where in the queue it is: its array task (Slurm), else the queue instance (ts).
        place = str(row.task) if row.task is not None else obs.queue.server_id
        update = replace(
            update or JobUpdate.of(job, job.state),
            queue_id=row.queue_id,
            server_id=job.server_id or place,
        )
    # A claim nobody holds any more; or a job held in the store that its queue lists (a feeder
    # queued it, and the store that recorded so was lost: `tsq adopt`): queued, not held.
    stale_claim = job.lease is not None and not obs.lease_held
    if stale_claim or (job.intent == INTENT_HOLD and row is not None):
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
    if job.queue_id is None:
        why = f"never queued in {queue.name} (the command queueing it stopped before it did)"
    elif not queue.alive:
        why = f"{queue.where} is gone and the job left no result"
    elif job.server_id is not None and queue.server_id not in (None, job.server_id):
        why = (
            f"{queue.where} was restarted since job {job.queue_id} was queued in it, and the job "
            "left no result"
        )
    elif same_server and obs.began and not obs.started:
        why = (
            f"{queue.name} ran job {job.queue_id} but it ended before tsq's runner started in it "
            f"(could its Python not start?), and {queue.name} no longer lists it "
            f"({queue.forgetting})"
        )
    elif same_server and not obs.started:
        return JobUpdate.of(
            job,
            JobState.CANCELLED,
            reason=(
                f"removed from {queue.title}'s queue before it started "
                f"({queue.name} job {job.queue_id})"
            ),
            ended_at=time.time(),
        )
    else:
        why = (
            f"{queue.name} no longer lists job {job.queue_id} ({queue.forgetting}) and the job "
            "left no result"
        )
    return JobUpdate.of(job, JobState.LOST, reason=why)


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
