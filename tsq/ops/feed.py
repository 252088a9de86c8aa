"""Sweeps larger than task-spooler holds: the jobs past `max_queued` wait in tsq's store and are
queued in ts as the sweep's jobs there end.

Every job waiting in task-spooler is a ts client process holding a connection to its server,
which takes about a thousand (`TS_MAXCONN`, or the open-file limit, less a few): past that, the
next client waits, unlisted, until a connection frees, so a 10,000-job launch would stop at the
first thousand. So a launch queues at most `max_queued` jobs of a sweep in ts and records the
rest `queued` with intent `hold` and no queue id: held in tsq's store, where `tsq status` shows
them queued, `tsq cancel` cancels them, and a barrier (`depends_on=sweep:`) or `wait` waits for
them, as for any unfinished job. Whoever refreshes the sweep on the host that launched it tops
its jobs in ts up again, lowest numbers first, queueing them from their batch's spec exactly as
the launch would have (`tsq.launch.submit`): the sweep's feeder, started by the launch, every few
seconds until nothing is held; and `tsq status`, `tsq wait` or a `wait=true` launcher, should
the feeder be gone. A lock in the spool dir keeps two of them from overfilling ts.

A held job is given the launch's `depends_on` ts job while ts still lists that job; once ts has
forgotten it, it ended long before (the jobs ahead of the held ones waited for it), and the job
is queued without it.

    python -m tsq.feed SPOOL_DIR     (started by the launcher; the store comes in $TSQ_STORE)
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from tsq.errors import SpecError, TsqError
from tsq.files.commands import FEED
from tsq.files.safeio import read_private, write_atomic
from tsq.files.spool import SpoolDir
from tsq.launch.detach import start_watcher
from tsq.store import INTENT_HOLD, INTENT_SUBMIT, LONG_PATIENCE_S, Job, Store

POLL_FIRST, POLL_MAX = 0.5, 5.0
STORE_RETRIES = 30  # consecutive failures to open or refresh the store before giving up


@dataclass(frozen=True)
class FeedPlan:
    """How the launch asked for a sweep's held jobs to be queued (`<spool>/feed.json`)."""

    max_queued: int
    after: tuple[int, ...] = ()

    def write(self, spool_root: Path) -> None:
        write_atomic(SpoolDir(spool_root).feed_plan, json.dumps(asdict(self)).encode())

    @classmethod
    def read(cls, spool_root: Path) -> FeedPlan | None:
        """The plan; None when it is missing, damaged or not yours (`safeio.read_private`)."""
        try:
            raw = json.loads(read_private(SpoolDir(spool_root).feed_plan))
            return cls(int(raw["max_queued"]), tuple(int(i) for i in raw.get("after", ())))
        except (OSError, ValueError, KeyError, TypeError, SpecError):
            return None


def room(plan: FeedPlan, jobs: list[Job]) -> int:
    """How many held jobs of a sweep may go to its queue now: `max_queued` less its unfinished
    jobs that are not held (in the queue, or being queued)."""
    waiting = sum(1 for job in jobs if not job.state.terminal and job.intent != INTENT_HOLD)
    return max(0, plan.max_queued - waiting)


def feed(store: Store, held: list[Job], warnings: list[str]) -> int:
    """Queue what there is room for among `held` (held jobs of sweeps queued on this host);
    how many were queued."""
    by_sweep: dict[str, list[Job]] = defaultdict(list)
    for job in held:
        by_sweep[job.sweep_id].append(job)
    queued = 0
    for jobs in by_sweep.values():
        try:
            queued += _feed_sweep(store, jobs[0].sweep.spool, jobs[0].sweep_id)
        except TsqError as e:
            warnings.append(f"sweep {jobs[0].sweep_id}: could not queue its held jobs: {e}")
    return queued


def _feed_sweep(store: Store, spool: SpoolDir, sweep_id: str) -> int:
    from tsq.backends import backend_for
    from tsq.backends.queueing import QueueOptions
    from tsq.files.jobspec import queue_options, read_header
    from tsq.files.lease import Lease
    from tsq.launch.submit import submit_jobs

    plan = FeedPlan.read(spool.root)
    if plan is None:
        raise TsqError(f"{spool.feed_plan} is missing, damaged or not yours")
    with _alone(spool.root) as alone:
        if not alone:  # another command is feeding this sweep now
            return 0
        jobs = store.active_jobs(sweep_id)
        held = sorted((job for job in jobs if job.intent == INTENT_HOLD), key=lambda j: j.num)
        chosen = held[: room(plan, jobs)]
        if not chosen:
            return 0
        sweep = chosen[0].sweep
        backend = backend_for(sweep)
        after = tuple(i for i in plan.after if backend.has_job(i))
        with Lease.acquire(spool.root) as lease:
            try:
                claimed = store.claim(chosen, INTENT_SUBMIT, lease.token)
                by_spec: dict[Path, list[Job]] = defaultdict(list)
                for job in claimed:
                    by_spec[spool.spec_of(job.num)].append(job)
                follow = f"tsq status {sweep_id}"
                for spec, group in by_spec.items():
                    options = QueueOptions(**queue_options(read_header(spec)))
                    submit_jobs(store, backend, sweep, spec, group, options, lease, follow, after)
            finally:
                store.release(sweep_id, lease.token)
    return len(claimed)


@contextmanager
def _alone(spool_root: Path) -> Iterator[bool]:
    """Whether this process holds the sweep's feed lock (never waits for it)."""
    fd = os.open(
        SpoolDir(spool_root).feed_lock, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
    )
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def start_feeder(spool_root: Path, store: str) -> int:
    """Start the sweep's feeder, detached; its pid."""
    return start_watcher(FEED, spool_root, SpoolDir(spool_root).feed_log, store)


def watch(spool_root: Path) -> int:
    """The feeder: refresh the sweep (which queues what there is room for) until none of its
    jobs is held any more."""
    from tsq.refresh.update import refresh

    sweep_id = spool_root.name
    delay, failures = POLL_FIRST, 0
    while True:
        try:
            store = Store.open(os.environ.get("TSQ_STORE"), patience=LONG_PATIENCE_S)
            try:
                report = refresh(store, sweep_id)
                held = [j for j in store.active_jobs(sweep_id) if j.intent == INTENT_HOLD]
            finally:
                store.close()
            failures = 0
        except TsqError as e:
            failures += 1
            print(f"tsq feed: {e}", file=sys.stderr, flush=True)
            if failures >= STORE_RETRIES:
                return 1
            held, report = [None], None
        for warning in report.warnings if report is not None else ():
            print(f"tsq feed: {warning}", file=sys.stderr, flush=True)
        if not held:
            return 0
        delay = POLL_FIRST if report is not None and report.changed else min(delay * 2, POLL_MAX)
        time.sleep(delay)
