"""Queueing recorded jobs: the launcher's first attempts and `tsq retry`'s later ones.

Jobs are recorded (queued, no ts id yet) and claimed by the caller's lease before this runs, so
no refresh judges them from ts's silence while they are being queued. An interruption or a ts
failure part-way leaves the jobs already queued recorded with their ts ids (and findable by their
unique label even if recording the ids fails), and marks the rest `lost`, saying so.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tsq.backends import Backend, JobRef
from tsq.errors import StoreError, TsqError
from tsq.lease import Lease
from tsq.options import TsOptions
from tsq.states import JobState
from tsq.store import Job, JobUpdate, Store, Sweep
from tsq.words import plural

if TYPE_CHECKING:
    from collections.abc import Sequence


def lease_part(job: Job) -> str:
    """The part of a lease that one job attempt being queued holds (`Lease.hold_for`)."""
    return f"{job.num}-{job.attempt}"


def submit_jobs(
    store: Store,
    backend: Backend,
    sweep: Sweep,
    spec: Path,
    jobs: list[Job],
    options: TsOptions,
    lease: Lease,
    follow: str,
    after: Sequence[int] = (),
) -> dict[int, int]:
    """Queue `jobs` (all of `sweep`, launched from `spec`, claimed by `lease`); num -> ts id.

    Each job runs in the launch's working directory and environment (`options`), whoever
    queues it. `follow` is the command that shows the sweep, for the messages when queueing
    stops part-way; `after`, queue ids they must wait for (`depends_on`).
    """
    submitted: dict[int, tuple[int, float]] = {}
    # Specs from before the launch's cwd was recorded: the sweep's, with the environment then.
    queueing = replace(options, env=options.job_environment(), cwd=options.cwd or sweep.cwd)
    by_ref = {JobRef.of(job): job for job in jobs}

    def hold(ref: JobRef) -> int:
        # A queue client still queueing the job when this process is killed keeps it
        # claimed until it is done: a refresh meanwhile never calls it "never queued".
        return lease.hold_for(lease_part(by_ref[ref]))

    try:
        for ref, queue_id in backend.submit_batch(
            spec, list(by_ref), queueing, after=after, hold=hold
        ):
            submitted[by_ref[ref].id] = (queue_id, time.time())
    except (Exception, KeyboardInterrupt) as cause:
        _record(store, backend, sweep, submitted, lease, follow)
        message = _abandon(store, backend, sweep, jobs, submitted, cause, follow)
        if isinstance(cause, (TsqError, KeyboardInterrupt)):
            raise TsqError(message) from cause
        raise
    _record(store, backend, sweep, submitted, lease, follow)
    lease.settle([lease_part(job) for job in jobs])
    ids = {job.id: job.num for job in jobs}
    return {ids[job_id]: ts_id for job_id, (ts_id, _) in submitted.items()}


def _record(
    store: Store,
    backend: Backend,
    sweep: Sweep,
    submitted: dict[int, tuple[int, float]],
    lease: Lease,
    follow: str,
) -> None:
    """Store the ts ids. If the store fails now, the jobs are queued all the same and will run:
    say so, and how they are found again, so nobody launches them twice."""
    try:
        store.set_submitted(lease.token, submitted, backend.server_id())
    except StoreError as e:
        queued = plural(len(submitted), "job")
        raise TsqError(
            f"{queued} of sweep {sweep.id} are queued in {backend.title} and will "
            f"run, but the store could not record their ts ids ({e}). Do not launch them again: "
            f"once the store works, {follow} finds them by their labels"
        ) from None


def _abandon(
    store: Store,
    backend: Backend,
    sweep: Sweep,
    jobs: list[Job],
    submitted: dict[int, tuple[int, float]],
    cause: BaseException,
    follow: str,
) -> str:
    """Mark the jobs never sent to ts lost once queueing stopped part-way (the ones queued are
    recorded), and say what the records are.

    The job being queued when it stopped may or may not have reached ts: it keeps its claim
    while its ts client lives, then the next refresh finds it in ts by its label, or marks it
    lost.
    """
    why = "interrupted" if isinstance(cause, KeyboardInterrupt) else str(cause)
    ids = {job_id for job_id in submitted}
    unsent = [job for job in jobs if job.id not in ids]
    never = unsent[1:]
    store.apply(
        [
            JobUpdate.of(
                job,
                JobState.LOST,
                reason=f"never submitted to {backend.name} ({why})",
                release=True,
            )
            for job in never
        ]
    )
    in_flight = f"; job {unsent[0].num} was being queued" if unsent else ""
    total = plural(len(jobs), "job")
    return (
        f"{why}: {len(submitted)} of {total} of sweep {sweep.id} were queued in {backend.name} "
        f"and are recorded, {len(never)} never were and are marked lost{in_flight}. "
        f"See: {follow}"
    )
