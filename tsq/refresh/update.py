"""Bring the store up to date: one look at each queue plus the jobs' own files.

Only jobs not yet in a terminal state are looked at, so a refresh costs the same whether the store
holds a hundred finished jobs or a million. `refresh` gathers what `tsq.refresh.decide` needs
(`tsq.refresh.observe`) and writes the outcome in one transaction, through the transition table,
so concurrent refreshes agree and terminal states never change.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from tsq.backends import Backend, JobRef, Queue, backend_for
from tsq.files.safeio import NotYours
from tsq.refresh.decide import decide, decide_rerun
from tsq.refresh.observe import RunFiles, observe
from tsq.refresh.reach import Reach, is_local
from tsq.render.words import plural
from tsq.states import JobState
from tsq.store import INTENT_HOLD, UPDATE_FIELDS, Job, JobUpdate, Rerun, Store


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


def _by_backend(jobs: Iterable[Job]) -> dict[Backend, list[Job]]:
    groups: dict[Backend, list[Job]] = defaultdict(list)
    for job in jobs:
        groups[backend_for(job.sweep)].append(job)
    return groups


def refresh(store: Store, sweep_id: str | None = None, *, retries: bool = True) -> Refresh:
    """Reconcile every queued or running job (of one sweep, if given). The queue is asked
    before the result files are read, so a job that ends in between is seen by its result,
    never mistaken for lost. Jobs whose queue this host cannot ask (`Reach`: another host's ts
    server, where the same socket path here is another server) are judged from their files
    only.

    A job this refresh saw fail or get lost is queued again at once when its launch's retry
    policy asks for it (`tsq.ops.retry.retry_ended`), unless `retries` is False: the check
    of a sweep dir's other sweeps, made under the dir's lock that a retry takes too."""
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
        ended = [u.job_id for u in updates if u.state in (JobState.FAILED, JobState.LOST)]
        if retries and ended:
            report.changed += _retry(store, ended, report)
    held = [job for job in active if job.intent == INTENT_HOLD and is_local(job)]
    if held:  # the queue may have room for jobs held in the store (`tsq.ops.feed`)
        from tsq.ops.feed import feed

        report.changed += feed(store, held, report.warnings)
    return report


def _retry(store: Store, ended: list[int], report: Refresh) -> int:
    """Queue again the jobs among `ended` that their retry policy asks for; how many."""
    from tsq.ops.retry import retry_ended

    jobs = store.jobs(sorted(report.changed_sweeps), history=True, ids=ended)
    renewed = retry_ended(store, jobs, report.warnings)
    report.changed_sweeps.update(job.sweep_id for job in renewed)
    return len(renewed)


def open_refreshed(location: str | None, *, warn: bool = True) -> tuple[Store, Refresh]:
    """The store at `location` (a path or URL; None: `$TSQ_STORE`, else the per-user store),
    brought up to date, as every reader starts; and what the refresh did. No reader makes a
    store: one that is not there is refused (`Store.open`). With `warn`, what the refresh could
    not find out is said on stderr, one `tsq: ` line each."""
    store = Store.open(location)
    report = refresh(store)
    if warn:
        for line in report.messages():
            print(f"tsq: {line}", file=sys.stderr)
    return store, report


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
