"""`tsq retry`: queue ended jobs again, as new attempts of the same jobs.

Same overrides, same `hydra.job.num`, same output dir (the first attempt's, even where the
subdir names the time: `tsq.files.retryspec`), same config (frozen at the first launch) and
queued the same way: slots, GPUs, and the launch's working directory and
environment from the spec's header, in the queue the sweep was launched in (its ts socket),
whatever the shell that runs `tsq retry`. The attempt that ended is archived as it was; the job's
row becomes the new attempt.

Retries by cause (`hydra.launcher.retry`) are this same retry, made by whichever refresh first
sees a job end for a cause its policy names (`retry_ended`): no command need be running, as the
sweep's watcher refreshes while any job may still be retried (`tsq.ops.notify`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from tsq.backends import backend_for
from tsq.backends.queueing import QueueOptions
from tsq.causes import end_cause, retry_reason
from tsq.errors import TsqError
from tsq.files.jobspec import queue_options, read_header
from tsq.files.labels import make_label
from tsq.files.retryspec import OutputDir, write_retry_spec
from tsq.launch.submit import require_passed, submit_jobs
from tsq.launch.sweepdir import RETRY_ADVICE, claim_sweep_dir
from tsq.options import RetryCause
from tsq.refresh.reach import Reach, refuse_elsewhere
from tsq.render.words import next_command
from tsq.states import JobState
from tsq.store import Job, Store, Sweep

DEFAULT_STATES = frozenset({JobState.FAILED, JobState.LOST, JobState.CANCELLED})


def select(
    jobs: Sequence[Job],
    states: frozenset[JobState],
    nums: Sequence[int],
    causes: frozenset[RetryCause] = frozenset(),
) -> list[Job]:
    """The jobs to retry: those numbered, else those in `states` or that ended for one of
    `causes` (`tsq.causes.end_cause`); with neither, every job that ended without completing.
    Only ended jobs can be retried."""
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
    if causes:
        return [job for job in jobs if job.state in states or end_cause(job) in causes]
    wanted = states or DEFAULT_STATES
    return [job for job in jobs if job.state in wanted]


def _launch_specs(sweep: Sweep, jobs: Sequence[Job]) -> dict[int, Path]:
    """Each job's launch spec (by number): its config and how it was queued."""
    try:
        return {job.num: sweep.spool.spec_of(job.num) for job in jobs}
    except FileNotFoundError as e:
        raise TsqError(f"cannot retry: {e} (was the sweep dir moved or deleted?)") from None


def _queueing(specs: dict[int, Path]) -> dict[Path, QueueOptions]:
    """How the jobs of each launch spec were queued (its header)."""
    return {spec: QueueOptions(**queue_options(read_header(spec))) for spec in set(specs.values())}


def retries_due(sweep: Sweep, jobs: Sequence[Job]) -> list[Job]:
    """The ended jobs (their earlier attempts loaded) that their launch's retry policy
    (`hydra.launcher.retry`) has queued again: at most `max` retries in all,
    each queueing of the job by `tsq retry` counted (not the runs Slurm made of one)."""
    ended = [job for job in jobs if job.state.terminal]
    if not ended:
        return []
    specs = _launch_specs(sweep, ended)
    policies = {spec: options.retry for spec, options in _queueing(specs).items()}
    due: list[Job] = []
    for job in ended:
        policy = policies[specs[job.num]]
        retried = sum(run.restarts == 0 for run in [*job.history, job]) - 1
        if retried < policy.max and retry_reason(job, policy) is not None:
            due.append(job)
    return due


def retry_ended(store: Store, jobs: Sequence[Job], warnings: list[str]) -> list[Job]:
    """Queue again, as `tsq retry` does, the ended `jobs` (earlier attempts loaded) that their
    launch's retry policy asks for; the new attempts. Called by every refresh for the jobs it
    ended, and by the sweep's watcher for all of its jobs: of two processes that retry the
    same job, only one renews it (`Store.new_attempts` is conditional on the row's version).

    Jobs queued on a host whose queue this one cannot reach are left to that host's refreshes
    and watcher. What cannot be retried (its sweep dir is now another sweep's, its spec is
    gone) is said in `warnings`, and tried again by the next refresh of the watcher."""
    renewed: list[Job] = []
    reach = Reach()
    by_sweep: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        if reach.backend(job.sweep.hostname, backend_for(job.sweep)):
            by_sweep[job.sweep_id].append(job)
    for group in by_sweep.values():
        sweep = group[0].sweep
        try:
            due = retries_due(sweep, group)
            if due:
                renewed += retry(store, sweep, due, next_command("status", sweep.id))
        except TsqError as e:
            warnings.append(f"sweep {sweep.id}: ended jobs not queued again (retry by cause): {e}")
    return renewed


def retry(store: Store, sweep: Sweep, jobs: Sequence[Job], follow: str) -> list[Job]:
    """Queue `jobs` again; returns them as their new attempts (queued in ts).

    A job another retry renewed first (its row changed since it was read) is left out. Runs
    only on a host that reaches the sweep's queue (`tsq.refresh.reach.Reach`)."""
    backend = backend_for(sweep)
    refuse_elsewhere(f"sweep {sweep.id}", [(sweep.hostname, backend)], f"tsq retry {sweep.id}")
    spool = sweep.spool
    specs = _launch_specs(sweep, jobs)
    options = _queueing(specs)
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
