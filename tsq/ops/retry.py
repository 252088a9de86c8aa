"""`tsq retry`: queue ended jobs again, as new attempts of the same jobs.

Same overrides, same `hydra.job.num`, same output dir (the first attempt's, even where the
subdir names the time: `tsq.files.retryspec`), same config (frozen at the first launch) and
queued the same way: slots, GPUs, and the launch's working directory and
environment from the spec's header, in the queue the sweep was launched in (its ts socket),
whatever the shell that runs `tsq retry`. The attempt that ended is archived as it was; the job's
row becomes the new attempt.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from tsq.backends import backend_for
from tsq.backends.queueing import QueueOptions
from tsq.errors import TsqError
from tsq.files.jobspec import queue_options, read_header
from tsq.files.labels import make_label
from tsq.files.retryspec import OutputDir, write_retry_spec
from tsq.launch.submit import require_passed, submit_jobs
from tsq.launch.sweepdir import RETRY_ADVICE, claim_sweep_dir
from tsq.refresh.reach import refuse_elsewhere
from tsq.states import JobState
from tsq.store import Job, Store, Sweep

DEFAULT_STATES = frozenset({JobState.FAILED, JobState.LOST, JobState.CANCELLED})


def select(jobs: Sequence[Job], states: frozenset[JobState], nums: Sequence[int]) -> list[Job]:
    """The jobs to retry: those numbered, else those in `states` (default: every job that
    ended without completing). Only ended jobs can be retried."""
    if nums:
        by_num = {job.num: job for job in jobs}
        missing = [n for n in nums if n not in by_num]
        if missing:
            raise TsqError(f"the sweep has no job {', '.join(map(str, missing))}")
        active = [n for n in nums if not by_num[n].state.terminal]
        if active:
            raise TsqError(
                f"job {', '.join(map(str, active))} has not ended yet; cancel it first to retry"
            )
        return [by_num[n] for n in nums]
    wanted = states or DEFAULT_STATES
    return [job for job in jobs if job.state in wanted]


def retry(store: Store, sweep: Sweep, jobs: Sequence[Job], follow: str) -> list[Job]:
    """Queue `jobs` again; returns them as their new attempts (queued in ts).

    A job another retry renewed first (its row changed since it was read) is left out. Runs
    only on a host that reaches the sweep's queue (`tsq.refresh.reach.Reach`)."""
    backend = backend_for(sweep)
    refuse_elsewhere(f"sweep {sweep.id}", [(sweep.hostname, backend)], f"tsq retry {sweep.id}")
    spool = sweep.spool
    try:
        specs = {job.num: spool.spec_of(job.num) for job in jobs}
    except FileNotFoundError as e:
        raise TsqError(f"cannot retry: {e} (was the sweep dir moved or deleted?)") from None
    options = {
        spec: QueueOptions(**queue_options(read_header(spec))) for spec in set(specs.values())
    }
    for queueing in options.values():
        backend.check_resources(queueing)
        require_passed(queueing, "run tsq retry")
    labels = [make_label(sweep.task_name, sweep.id, job.num, job.attempt + 1) for job in jobs]
    dirs = {
        job.num: OutputDir.of(sweep.sweep_dir, job.output_dir) for job in jobs if job.output_dir
    }
    _, lease = claim_sweep_dir(Path(sweep.sweep_dir), sweep.id, store, RETRY_ADVICE)
    with lease:
        renewed = store.new_attempts(jobs, labels, lease.token)
        by_spec: dict[Path, list[Job]] = defaultdict(list)
        for job in renewed:
            by_spec[specs[job.num]].append(job)
        for launched, group in by_spec.items():
            spec = spool.retry_spec(group[0].num, group[0].attempt)
            write_retry_spec(spec, launched, [job.num for job in group], dirs)
            submit_jobs(store, backend, sweep, spec, group, options[launched], lease, follow)
    return renewed
