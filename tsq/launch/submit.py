"""Queueing recorded jobs: the launcher's first attempts and `tsq retry`'s later ones.

Jobs are recorded (queued, no ts id yet) and claimed by the caller's lease before this runs, so
no refresh judges them from ts's silence while they are being queued. An interruption or a ts
failure part-way leaves the jobs already queued recorded with their ts ids (and findable by their
unique label even if recording the ids fails), and marks the rest `lost`, saying so.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from tsq.backends import Backend, JobRef, detect
from tsq.backends.queueing import QueueOptions
from tsq.errors import QueueRefused, StoreError, TsqError
from tsq.files.lease import Lease, lease_part
from tsq.options import CommonOptions
from tsq.render.words import plural
from tsq.states import JobState
from tsq.store import Job, JobUpdate, Store, Sweep

if TYPE_CHECKING:
    from collections.abc import Sequence


def open_queue(options: CommonOptions) -> tuple[Backend, QueueOptions]:
    """The queue a launch's jobs go to, found and checked, and how each of its jobs is queued
    (with the launching process's cwd and environment): refused, in one line, when the queue
    cannot honour it, before anything is recorded."""
    backend = detect(options.queue, **options.queue_location())
    queueing = QueueOptions(**options.queueing())
    backend.check_resources(queueing)
    return backend, queueing


def require_passed(options: QueueOptions, command: str) -> None:
    """Refuse to queue jobs that would run without a variable they take from the queueing
    shell (`env_pass`): its value is never stored, so this shell is the only place it is."""
    unset = options.unset_passed()
    if unset:
        raise TsqError(
            f"{', '.join(unset)} (hydra.launcher.env_pass) is not set in this shell: the jobs "
            f"take it from the shell that queues them (it is never written down); export it "
            f"and {command} again"
        )


def submit_jobs(
    store: Store,
    backend: Backend,
    sweep: Sweep,
    spec: Path,
    jobs: list[Job],
    options: QueueOptions,
    lease: Lease,
    follow: str,
    after: Sequence[int] = (),
) -> dict[int, int]:
    """Queue `jobs` (all of `sweep`, launched from `spec`, claimed by `lease`); num -> ts id.

    Each job runs in the launch's working directory and environment (`options`), whoever
    queues it. `follow` is the command that shows the sweep, for the messages when queueing
    stops part-way; `after`, queue ids they must wait for (`depends_on`).
    """
    submitted: dict[int, Submitted] = {}
    # Specs from before the launch's cwd was recorded: the sweep's, with the environment then.
    queueing = replace(options, env=options.job_environment(), cwd=options.cwd or sweep.cwd)
    by_ref = {JobRef.of(job): job for job in jobs}

    def hold(ref: JobRef) -> int:
        # A queue client still queueing the job when this process is killed keeps it
        # claimed until it is done: a refresh meanwhile never calls it "never queued".
        return lease.hold_for(lease_part(ref.num, ref.attempt))

    try:
        # Which queue instance each job went to, read around it: a ts server killed part-way
        # is replaced by the next ts client, and the jobs it held are lost, not removed.
        before = backend.server_id()
        for queued in backend.submit_batch(spec, list(by_ref), queueing, after=after, hold=hold):
            now = backend.server_id()
            # None before: no server listened, so the job's own client started this one.
            server = now if before in (None, now) else None
            place = queued.place if queued.place is not None else server
            submitted[by_ref[queued.job].id] = Submitted(queued.queue_id, time.time(), place)
            before = now
    except (Exception, KeyboardInterrupt) as cause:
        _record(store, backend, sweep, submitted, lease, follow)
        message = _abandon(store, backend, sweep, jobs, submitted, cause, follow)
        if isinstance(cause, (TsqError, KeyboardInterrupt)):
            raise TsqError(message) from cause
        raise
    _record(store, backend, sweep, submitted, lease, follow)
    lease.settle([lease_part(job.num, job.attempt) for job in jobs])
    ids = {job.id: job.num for job in jobs}
    _say_if_replaced(backend, [ids[job_id] for job_id in submitted], list(submitted.values()))
    return {ids[job_id]: queued.queue_id for job_id, queued in submitted.items()}


class Submitted(NamedTuple):
    """Where one job went: its queue id, when, and the queue instance (None: not known) or,
    for a queue that says where in a shared submission it went, that (`Queued.place`)."""

    queue_id: int
    at: float
    server_id: str | None


def _say_if_replaced(backend: Backend, nums: list[int], submitted: list[Submitted]) -> None:
    """One line on stderr when the queue instance changed while the batch was queued: the
    jobs that went to the earlier one will not run there (a refresh records them lost)."""
    final = submitted[-1].server_id if submitted else None
    earlier = [
        num for num, queued in zip(nums, submitted, strict=True) if queued.server_id != final
    ]
    if earlier and backend.server_id() is not None:
        print(
            f"tsq: {backend.title} was restarted while this batch was queued: "
            f"{plural(len(earlier), 'job')} ({_span(earlier)}) went to a server that is gone and "
            "will not run; `tsq status` records them lost, `tsq retry` queues them again",
            file=sys.stderr,
        )


def _span(nums: list[int]) -> str:
    return f"job {nums[0]}" if len(nums) == 1 else f"jobs {nums[0]}-{nums[-1]}"


def _record(
    store: Store,
    backend: Backend,
    sweep: Sweep,
    submitted: dict[int, Submitted],
    lease: Lease,
    follow: str,
) -> None:
    """Store the ts ids. If the store fails now, the jobs are queued all the same and will run:
    say so, and how they are found again, so nobody launches them twice."""
    try:
        store.set_submitted(lease.token, submitted)
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
    submitted: dict[int, Submitted],
    cause: BaseException,
    follow: str,
) -> str:
    """Mark the jobs never sent to ts lost once queueing stopped part-way (the ones queued are
    recorded), and say what the records are.

    The job being queued when it stopped, unless the queue refused it (`QueueRefused`), may
    or may not have reached ts: it keeps its claim while its ts client lives, then the next
    refresh finds it in ts by its label, or marks it lost.
    """
    why = "interrupted" if isinstance(cause, KeyboardInterrupt) else str(cause)
    ids = {job_id for job_id in submitted}
    unsent = [job for job in jobs if job.id not in ids]
    # A queue that refused them has none of them; otherwise the first may have got there.
    in_flight = unsent[:1] if not isinstance(cause, QueueRefused) else []
    never = unsent[len(in_flight) :]
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
    being = f"; job {in_flight[0].num} was being queued" if in_flight else ""
    total = plural(len(jobs), "job")
    return (
        f"{why}: {len(submitted)} of {total} of sweep {sweep.id} were queued in {backend.name} "
        f"and are recorded, {len(never)} never were and are marked lost{being}. "
        f"See: {follow}"
    )
