"""`tsq cancel`: take jobs out of their queue and mark them cancelled.

Only queue rows whose label is the job's own are touched: a queue id alone may belong to anything
(another sweep, a job queued by hand, a new ts server's job 0), and cancel must never hit those.

Cancel claims the jobs (intent `cancel`, under its lease) before it touches ts, so a refresh
running meanwhile never takes a job cancel has just removed from the queue for lost, and a
cancel killed half-way leaves jobs that a later refresh records as cancelled (those it took out
of ts) or as they are (those it had not reached yet).
"""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from tsq.backends import Backend, JobRef, QueueRow, backend_for
from tsq.files.lease import Lease, held, lease_part
from tsq.refresh.decide import CANCELLED_REASON
from tsq.refresh.observe import observe
from tsq.refresh.reach import refuse_elsewhere
from tsq.render.words import plural
from tsq.store import INTENT_CANCEL, Job, Store, Sweep

CLAIM_ROUNDS = 5  # a job whose row a refresh changed meanwhile is read again and claimed again
GRACE_S = 10.0  # how long cancel waits for a job it sent SIGTERM to end (`_once_stopped`)


@dataclass
class Cancelled:
    """What cancel did, by job number, for a message that says only what is true."""

    removed: list[int] = field(default_factory=list)  # taken out of the queue
    killed: list[int] = field(default_factory=list)  # running; sent SIGTERM
    dropped: list[int] = field(default_factory=list)  # nothing ran or would run them
    ended: list[int] = field(default_factory=list)  # had ended before cancel reached them
    answered: list[int] = field(default_factory=list)  # wrote a result as they were stopped
    marked: int = 0  # recorded cancelled
    notes: list[str] = field(default_factory=list)  # what could not be done, and why
    queue: str = "the queue"  # its name, for the summary ("ts")

    def summary(self, sweep_id: str) -> str:
        """One line saying what was done: counts only of what really happened."""
        done = [
            f"{plural(len(self.removed), 'queued job')} removed from {self.queue}"
            if self.removed
            else "",
            f"{plural(len(self.killed), 'running job')} stopped (SIGTERM)" if self.killed else "",
            f"{plural(len(self.dropped), 'job')} no longer in {self.queue}" if self.dropped else "",
        ]
        said = ", ".join(part for part in done if part)
        if said and self.marked:
            said += "; marked cancelled"
        said = said or "nothing cancelled"
        if self.answered:
            said += (
                f"; {plural(len(self.answered), 'job')} wrote a result as it stopped: recorded as "
                "that result says"
            )
        ended = sorted(set(self.ended))
        if len(ended) == 1:
            said += f"; job {ended[0]} had already ended"
        elif ended:
            said += f"; {len(ended)} jobs had already ended"
        return f"sweep {sweep_id}: {said}"


def cancel(store: Store, jobs: Sequence[Job]) -> Cancelled:
    """Cancel the active ones among `jobs` (refresh the store first); terminal ones are left."""
    report = Cancelled()
    by_sweep: dict[str, list[Job]] = defaultdict(list)
    active = [job for job in jobs if not job.state.terminal]
    if active:  # only a host that reaches a job's queue can cancel it (`tsq.refresh.reach.Reach`)
        one = len(jobs) == 1
        target = f"{jobs[0].sweep_id}:{jobs[0].num}" if one else jobs[0].sweep_id
        what = f"job {target}" if one else f"sweep {target}"
        queues = {(job.queued_on, backend_for(job.sweep)) for job in active}
        refuse_elsewhere(what, queues, f"tsq cancel {target}")
    for job in jobs:
        if job.state.terminal:
            report.ended.append(job.num)
        else:
            by_sweep[job.sweep_id].append(job)
    for group in by_sweep.values():
        sweep = group[0].sweep
        with Lease.acquire(sweep.spool.root) as lease:
            try:
                _cancel_sweep(store, sweep, group, lease, report)
            finally:
                store.release(sweep.id, lease.token)
    return report


def _claim(
    store: Store, sweep: Sweep, jobs: list[Job], lease: Lease, report: Cancelled
) -> list[Job]:
    """Claim the jobs no live command holds, reading again those a refresh wrote meanwhile."""
    spool_root = sweep.spool.root
    claimed: list[Job] = []
    wanted = {job.id for job in jobs}
    for _ in range(CLAIM_ROUNDS):
        free = []
        for job in jobs:
            if job.state.terminal:
                report.ended.append(job.num)
                wanted.discard(job.id)
            elif job.lease is not None and held(
                spool_root, job.lease, lease_part(job.num, job.attempt)
            ):
                report.notes.append(
                    f"job {job.num} is being queued by another tsq command; cancel it again "
                    "once that has finished"
                )
                wanted.discard(job.id)
            else:
                free.append(job)
        got = store.claim(free, INTENT_CANCEL, lease.token)
        claimed += got
        wanted -= {job.id for job in got}
        if not wanted:
            break
        jobs = [job for job in store.jobs([sweep.id]) if job.id in wanted]
    for job in jobs:
        if job.id in wanted:
            report.notes.append(f"job {job.num} kept changing while cancel ran; cancel it again")
    return claimed


def _cancel_sweep(
    store: Store, sweep: Sweep, jobs: list[Job], lease: Lease, report: Cancelled
) -> None:
    claimed = _claim(store, sweep, jobs, lease, report)
    if not claimed:
        return
    backend = backend_for(sweep)
    report.queue = backend.name
    queue = backend.look([JobRef.of(job) for job in claimed], report.notes)
    if queue is None:
        return
    stopped: dict[int, tuple[float | None, float]] = {}
    killed: list[Job] = []
    in_queue: list[tuple[Job, QueueRow, float | None]] = []
    for job in claimed:
        obs = observe(job, queue)
        row = obs.row
        started_at = obs.started.started_at if obs.started else None
        if (
            obs.result is not None
            or obs.result_problem is not None
            or (row is not None and not row.state.active)
        ):
            report.ended.append(job.num)
        elif row is not None:
            in_queue.append((job, row, started_at))
        elif obs.runner_alive and obs.started is not None:
            # Its queue has forgotten it (a ts server gone) but the job still runs: stop it.
            os.kill(obs.started.pid, signal.SIGTERM)
            report.killed.append(job.num)
            killed.append(job)
        else:
            # Not in its queue, not running, no result: nothing runs it or ever will.
            report.dropped.append(job.num)
            stopped[job.id] = (started_at, time.time())
    outcomes = backend.stop([row for _, row, _ in in_queue])
    for (job, _, started_at), outcome in zip(in_queue, outcomes, strict=True):
        if outcome.error is not None:
            report.notes.append(f"job {job.num} left as it is: {outcome.error}")
        elif outcome.removed:
            report.removed.append(job.num)
            stopped[job.id] = (started_at, time.time())
        elif outcome.killed:
            report.killed.append(job.num)
            killed.append(job)
        else:
            report.ended.append(job.num)
    stopped.update(_once_stopped(backend, killed, report))
    report.marked += store.settle_cancelled(lease.token, stopped, CANCELLED_REASON)


def _once_stopped(
    backend: Backend, killed: list[Job], report: Cancelled
) -> dict[int, tuple[float | None, float]]:
    """The killed jobs that ended without a result, once they have ended (up to `GRACE_S`).

    A job is cancelled only if it ends without a result: one that wrote its result between
    cancel's look and the signal (a process kept alive by an atexit flush), or that handles
    SIGTERM and returns, has ended as its result says, and the refresh records that. One still
    running after the grace period stays claimed for cancel: the refresh that sees it end
    records it cancelled (ended by SIGTERM) or as its result says."""
    ended: dict[int, tuple[float | None, float]] = {}
    waiting = list(killed)
    deadline = time.monotonic() + GRACE_S
    delay = 0.05
    while waiting:
        queue = backend.look([JobRef.of(job) for job in waiting], report.notes)
        still = []
        for job in waiting:
            obs = observe(job, queue) if queue is not None else None
            if obs is not None and (obs.result is not None or obs.result_problem is not None):
                report.answered.append(job.num)
            elif obs is None or (obs.row is not None and obs.row.state.active) or obs.runner_alive:
                still.append(job)
            else:
                started = obs.started.started_at if obs.started else None
                ended[job.id] = (started, time.time())
        waiting = still
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    for job in waiting:
        report.notes.append(
            f"job {job.num} is still running {GRACE_S:g} s after SIGTERM; it will be recorded "
            "cancelled once it ends (or as its result says, if it writes one)"
        )
    return ended
