"""Queueing recorded jobs in ts: the launcher's first attempts and `tsq retry`'s later ones.

Jobs are recorded (queued, no ts id yet) before this runs. An interruption or a ts failure
part-way leaves the jobs already queued recorded with their ts ids (and findable by their unique
label even if recording the ids fails), and marks the rest `lost`, saying so.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

from tsq.errors import TsqError
from tsq.options import TsOptions
from tsq.spooler import Spooler
from tsq.states import JobState
from tsq.store import Job, JobUpdate, Store, Sweep


def sweep_label(task_name: str, sweep_id: str) -> str:
    """What every ts label of a sweep starts with: readable in `tsp -l`, unique by the id."""
    name = re.sub(r"[^\w.-]+", "_", task_name)[:40] or "job"
    return f"{name}/{sweep_id}"


def make_label(task_name: str, sweep_id: str, num: int, attempt: int = 1) -> str:
    """A job's ts label; ts ids restart at 0 with a new server, labels don't."""
    suffix = f"#{attempt}" if attempt > 1 else ""
    return f"{sweep_label(task_name, sweep_id)}/{num}{suffix}"


def runner_argv(spec: Path, num: int, attempt: int = 1) -> list[str]:
    argv = [sys.executable, "-m", "tsq.runner", str(spec), str(num)]
    return [*argv, str(attempt)] if attempt > 1 else argv


def submit_jobs(
    store: Store,
    spooler: Spooler,
    sweep: Sweep,
    spec: Path,
    jobs: list[Job],
    options: TsOptions,
    follow: str,
    after: int | None = None,
) -> dict[int, tuple[int, float]]:
    """Queue `jobs` (all of `sweep`, launched from `spec`); num -> (ts id, submitted at).

    `follow` is the command that shows the sweep, for the message when queueing stops part-way;
    `after`, a ts job they must wait for (`depends_on`).
    """
    submitted: dict[int, tuple[int, float]] = {}
    env = {**os.environ, **options.env}
    try:
        for job in jobs:
            ts_id = spooler.submit(
                runner_argv(spec, job.num, job.attempt),
                job.label,
                slots=options.slots,
                gpus=options.gpus,
                after=after,
                env=env,
            )
            submitted[job.num] = (ts_id, time.time())
    except (Exception, KeyboardInterrupt) as cause:
        message = _abandon(store, sweep, jobs, submitted, cause, follow)
        if isinstance(cause, (TsqError, KeyboardInterrupt)):
            raise TsqError(message) from cause
        raise
    store.set_submitted(sweep.id, submitted)
    return submitted


def _abandon(
    store: Store,
    sweep: Sweep,
    jobs: list[Job],
    submitted: dict[int, tuple[int, float]],
    cause: BaseException,
    follow: str,
) -> str:
    """Leave a truthful record when queueing stops part-way, and say what it is.

    The job being queued when it stopped may or may not have reached ts: it stays queued
    without a ts id, and the next refresh finds it in ts by its label, or marks it lost.
    """
    store.set_submitted(sweep.id, submitted)
    why = "interrupted" if isinstance(cause, KeyboardInterrupt) else str(cause)
    unsent = [job for job in jobs if job.num not in submitted]
    never = unsent[1:]
    store.apply(
        [JobUpdate(job.id, JobState.LOST, reason=f"never submitted to ts ({why})") for job in never]
    )
    in_flight = f"; job {unsent[0].num} was being queued" if unsent else ""
    return (
        f"{why}: {len(submitted)} of {len(jobs)} jobs of sweep {sweep.id} were queued in ts and "
        f"are recorded, {len(never)} never were and are marked lost{in_flight}. See: {follow}"
    )
