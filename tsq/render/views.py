"""What the commands print about sweeps and jobs: status lines and rows, job JSON and counts.

Pure: records in, text out (`tables.py` lays the text out).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tsq.causes import end_cause
from tsq.hosts import this_host
from tsq.render.words import plural, signal_name
from tsq.states import JobState

if TYPE_CHECKING:
    from tsq.files.results import ResultSummary
    from tsq.store import Attempt, Job, Sweep

    Run = Job | Attempt  # an attempt, latest or earlier: what one run of a job did

# The order states are counted in: how it went first, then what is still to come.
ORDER = (
    JobState.COMPLETED,
    JobState.FAILED,
    JobState.RUNNING,
    JobState.QUEUED,
    JobState.CANCELLED,
    JobState.LOST,
)


def counts(jobs: Sequence[Job]) -> str:
    """ "3 completed, 1 failed, 2 queued": the jobs counted by state, in `ORDER`."""
    return counted(job.state for job in jobs)


def counted(states: Iterable[JobState]) -> str:
    """`counts` of jobs in these states."""
    by_state = Counter(states)
    return ", ".join(f"{by_state[s]} {s}" for s in ORDER if by_state[s])


def _end(job: Run, now: float) -> float | None:
    """When the job ended, or now while it runs; None for an ended job whose end is unknown
    (a lost job): its duration is unknown, not growing."""
    if job.ended_at is not None:
        return float(job.ended_at)
    return None if job.state.terminal else now


def duration(job: Run, now: float) -> str:
    end = _end(job, now)
    if job.started_at is None or end is None:
        return ""
    seconds = end - job.started_at
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def error_of(job: Run, summary: ResultSummary | None, problem: str | None) -> str | None:
    """What went wrong with a terminal job, in one line: for a completed job only why its
    result is unusable, if it is; else its own exception, or how it ended."""
    if job.state == JobState.COMPLETED:
        return problem
    if summary is not None and summary.error:
        return summary.error
    return f"{job.state}: {job.reason or 'no reason recorded'}"


def exit_text(job: Run) -> str:
    if job.signal is not None:
        return signal_name(job.signal)
    return "" if job.exit_code is None else str(job.exit_code)


def sweep_line(sweep: Sweep, jobs: Sequence[Job], *, queue_asked: bool = True) -> str:
    """The sweep's heading; `queue_asked`: this host can ask its queue
    (`tsq.refresh.reach.Reach`)."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(sweep.created_at))
    count = plural(len(jobs), "job")
    line = f"sweep {sweep.id}  {sweep.task_name}  {when}  {count}: {counts(jobs)}\n"
    line += f"  dir: {sweep.sweep_dir}"
    if sweep.hostname != this_host():
        judged = "checked in its queue" if queue_asked else "judged from their files only"
        line += f"\n  host: {sweep.hostname} (not this host: its unfinished jobs are {judged})"
    if sweep.project is not None:  # sweeps launched before tsq recorded their code have none
        code = Provenance(sweep.project, sweep.git_commit, sweep.git_branch, sweep.git_dirty)
        copy = f"snapshot {sweep.snapshot}" if sweep.snapshot else "not snapshotted"
        line += f"\n  code: {code.describe()}; {copy}"
    return line


@dataclass(frozen=True)
class Provenance:
    """Where the code of a sweep came from (recorded with the sweep, and in its snapshot's
    `provenance.json`: `tsq.launch.snapshot`)."""

    project: str  # the directory that was snapshotted
    git_commit: str | None = None
    git_branch: str | None = None  # None on a detached HEAD
    git_dirty: bool | None = None  # uncommitted changes or untracked files; None outside git
    note: str | None = None  # why there is no git information ("not a git repository", ...)

    def describe(self) -> str:
        """One line for `tsq status`."""
        if self.git_commit is None:
            return f"{self.project} ({self.note or 'not a git commit'})"
        branch = self.git_branch or "detached HEAD"
        dirty = ", uncommitted changes" if self.git_dirty else ""
        return f"git {self.git_commit[:12]} ({branch}{dirty}) in {self.project}"


def job_json(sweep: Sweep, job: Job, now: float) -> dict[str, Any]:
    end = _end(job, now)
    return {
        "sweep": sweep.id,
        "num": job.num,
        "state": job.state,
        "overrides": list(job.overrides),
        "queue_id": job.queue_id,
        "label": job.label,
        "exit_code": job.exit_code,
        "signal": job.signal,
        "reason": job.reason,
        "cause": _cause(job),
        "output_dir": job.output_dir,
        "submitted_at": job.submitted_at,
        "started_at": job.started_at,
        "ended_at": job.ended_at,
        "duration": None if job.started_at is None or end is None else end - job.started_at,
        "task_name": sweep.task_name,
        "attempt": job.attempt,
        "host": job.queued_on,
        "git_commit": sweep.git_commit,
        "git_dirty": sweep.git_dirty,
    }


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    """An earlier attempt in `status --attempts --json`: the fields a job's latest has."""
    return {
        "attempt": attempt.number,
        "state": attempt.state,
        "queue_id": attempt.queue_id,
        "exit_code": attempt.exit_code,
        "signal": attempt.signal,
        "reason": attempt.reason,
        "cause": _cause(attempt),
        "submitted_at": attempt.submitted_at,
        "started_at": attempt.started_at,
        "ended_at": attempt.ended_at,
        "host": attempt.host,
    }


def _cause(run: Run) -> str | None:
    """Why an ended attempt ended, as `hydra.launcher.retry.causes` and `tsq retry --cause`
    name it (`tsq.causes`); None for one that completed, was cancelled or failed of its own."""
    cause = end_cause(run)
    return None if cause is None else cause.value


def status_rows(jobs: Sequence[Job], now: float, *, attempts: bool = False) -> list[dict[str, Any]]:
    """`status`'s table rows; the TRY column only when some job was retried or run again.
    With `attempts`, each job's earlier attempts come first, oldest first (`Job.history`)."""
    rows: list[dict[str, Any]] = []
    for j in jobs:
        runs: list[tuple[int, Run]] = [(a.number, a) for a in j.history] if attempts else []
        for number, run in [*runs, (j.attempt, j)]:
            rows.append(
                {
                    "NUM": j.num,
                    "STATE": run.state,
                    "ID": run.queue_id,
                    "EXIT": exit_text(run),
                    "TIME": duration(run, now),
                    "TRY": number,
                    "OVERRIDES": " ".join(j.overrides)
                    + (f"  ({run.reason})" if run.reason else ""),
                }
            )
    if all(j.attempt == 1 for j in jobs):
        for row in rows:
            del row["TRY"]
    return rows
