"""`tsq cancel`: take jobs out of task-spooler and mark them cancelled.

Only ts jobs whose label is the job's own are touched: a ts id alone may belong to anything
(another sweep, a job queued by hand, a new server's job 0), and cancel must never hit those.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from tsq.errors import SpoolerError
from tsq.states import JobState
from tsq.status import match_row, spooler_for
from tsq.store import Job, JobUpdate, Store

REASON = "cancelled with `tsq cancel`"


@dataclass
class Cancelled:
    removed: list[int] = field(default_factory=list)  # job nums taken out of the queue
    killed: list[int] = field(default_factory=list)  # job nums whose process got SIGTERM
    skipped: list[str] = field(default_factory=list)  # why some could not be cancelled


def cancel(store: Store, jobs: Sequence[Job]) -> Cancelled:
    """Cancel the active ones among `jobs` (refresh the store first); terminal ones are left."""
    report = Cancelled()
    updates: list[JobUpdate] = []
    by_sweep: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        if not job.job_state.terminal:
            by_sweep[job.sweep_id].append(job)
    for group in by_sweep.values():
        spooler = spooler_for(group[0].sweep)
        try:
            rows = {row.id: row for row in spooler.list()}
        except SpoolerError as e:
            report.skipped.append(f"jobs of sweep {group[0].sweep_id} left as they are: {e}")
            continue
        for job in group:
            row = match_row(job, rows)
            if row is None:
                report.skipped.append(f"job {job.num} is not in ts yet; cancel it again later")
                continue
            if row.state == "queued" and spooler.remove(row.id):
                report.removed.append(job.num)
            elif spooler.kill(row.id):
                report.killed.append(job.num)
            else:
                report.skipped.append(f"job {job.num} ended before it could be cancelled")
                continue
            updates.append(JobUpdate(job.id, JobState.CANCELLED, reason=REASON, ts_id=row.id))
    store.apply(updates)
    return report
