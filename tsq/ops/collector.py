"""Hand back finished jobs: Hydra `JobReturn`s for Python, rows for JSON and tables.

JSON and tables come from the result summaries, so they never unpickle anything; `JobReturn`s
come from the pickles. Every terminal job is handed back, in job order: lost and cancelled jobs,
and jobs whose result file is unusable, as FAILED with a `ResultUnavailable` that says why.

A pickle that is read but cannot be loaded here does not change how the job ended, which its
summary says: a failed job's exception comes back as a `RemoteError` built from the summary,
and a completed job stays COMPLETED, its `return_value` raising why it cannot be loaded.
`collect()` unpickles with the import path the jobs had (recorded in the batch specs), so
results that refer to the app's own modules load from any directory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tsq.errors import SpecError, TsqError
from tsq.files.jobspec import read_header
from tsq.files.results import (
    FAILED,
    RemoteError,
    ResultNotLoadable,
    ResultSummary,
    ResultUnavailable,
    ended_summary,
    load_job_return,
)
from tsq.files.spool import SpoolDir
from tsq.render.views import error_of
from tsq.store import Job, Sweep

if TYPE_CHECKING:
    import pandas
    from hydra.core.utils import JobReturn


@dataclass(frozen=True)
class Finished:
    """One terminal job with its result summary, or why it has none."""

    sweep: Sweep
    job: Job
    summary: ResultSummary | None
    problem: str | None = None  # set when a completed or failed job's result is unusable

    @property
    def spool(self) -> SpoolDir:
        return self.sweep.spool

    @property
    def error(self) -> str | None:
        return error_of(self.job, self.summary, self.problem)

    def as_json(self) -> dict[str, Any]:
        return {
            "sweep": self.sweep.id,
            "num": self.job.num,
            "overrides": list(self.job.overrides),
            "state": self.job.state,
            "return_value": self.summary.return_value if self.summary else None,
            "return_value_truncated": bool(self.summary and self.summary.return_value_truncated),
            "error": self.error,
            "exit_code": self.job.exit_code,
            "output_dir": self.job.output_dir,
            "git_commit": self.sweep.git_commit,
            "git_dirty": self.sweep.git_dirty,
        }

    def job_return(self) -> JobReturn:
        """The JobReturn the job wrote, or a FAILED one explaining why there is none; either
        carries the code it ran as `git_commit` and `git_dirty` (None outside git), and the
        job's own overrides (a job reused with `reuse=true` has the JobReturn of a job whose
        overrides may be spelled otherwise: `lr=0.1`, or nothing for that default)."""
        result = self._job_return()
        result.overrides = list(self.job.overrides)
        result.git_commit = self.sweep.git_commit
        result.git_dirty = self.sweep.git_dirty
        return result

    def _job_return(self) -> JobReturn:
        from hydra.core.utils import JobReturn, JobStatus

        reason = self.error
        if self.summary is not None:
            try:
                return load_job_return(self.spool.result_pickle(self.job.num, self.job.attempt))
            except ResultNotLoadable as e:
                return self._from_summary(self.summary, e)
            except SpecError as e:
                reason = str(e)
        return JobReturn(
            **self._known(),
            status=JobStatus.FAILED,
            _return_value=ResultUnavailable(
                f"job {self.job.num} of sweep {self.sweep.id}: {reason}"
            ),
        )

    def _known(self) -> dict[str, Any]:
        """What the store knows of the job's JobReturn without its pickle."""
        return {
            "overrides": list(self.job.overrides),
            "task_name": self.sweep.task_name,
            "working_dir": self.job.output_dir,
        }

    def _from_summary(self, summary: ResultSummary, problem: ResultNotLoadable) -> JobReturn:
        """The JobReturn of a job whose pickle cannot be loaded here, ended as its summary says.

        Where `collect` runs must not rewrite how a job ended: a failed job raises its own error
        (type, text and traceback, from the summary), a completed one stays completed.
        """
        from hydra.core.utils import JobReturn, JobStatus

        from tsq.ops.unloaded import UnloadedJobReturn

        if summary.status == FAILED:
            error = RemoteError(summary.error or "the job failed", summary.traceback or "")
            if hasattr(error, "add_note"):
                error.add_note(f"tsq: the job's own exception is not loadable: {problem}")
            return JobReturn(**self._known(), status=JobStatus.FAILED, _return_value=error)
        return UnloadedJobReturn(
            **self._known(),
            status=JobStatus.COMPLETED,
            _return_value=ResultUnavailable(
                f"job {self.job.num} of sweep {self.sweep.id} completed, but {problem}"
            ),
        )


def finished(sweep: Sweep, jobs: list[Job]) -> tuple[list[Finished], int]:
    """The sweep's terminal jobs in job order, and how many are not finished yet."""
    jobs_dir = str(sweep.spool.jobs)
    done = [
        Finished(sweep, job, *ended_summary(jobs_dir, job)) for job in jobs if job.state.terminal
    ]
    return done, len(jobs) - len(done)


def _finished_of(sweep: str | None, store: str | None) -> tuple[Sweep, list[Finished]]:
    from tsq.refresh.update import open_refreshed

    opened, _ = open_refreshed(store, warn=False)
    found = opened.find_sweep(sweep)
    done, _ = finished(found, opened.jobs([found.id]))
    return found, done


@contextmanager
def jobs_import_path(spool: SpoolDir) -> Iterator[None]:
    """`sys.path` with the entries the sweep's jobs had, for the time results are unpickled.

    A result that refers to the app's own modules (a dataclass from a module next to the app,
    a package run with `python -m`) is pickled by reference, and loads only where those modules
    import. Every batch spec records the launching process's `sys.path`; its absolute entries
    missing here go first, as the job itself put them (`jobspec.read_job`). `sys.path` is
    restored afterwards: modules imported meanwhile stay imported, nothing else changes.
    """
    recorded: list[str] = []
    for spec in sorted(spool.root.glob("spec-*.pkl")):
        try:
            recorded += read_header(spec).get("sys_path", [])
        except SpecError:  # a spec gone or unsafe: its jobs' results may still load
            continue
    missing = [
        entry
        for entry in dict.fromkeys(recorded)
        if isinstance(entry, str) and os.path.isabs(entry) and entry not in sys.path
    ]
    saved = list(sys.path)
    sys.path[:0] = missing
    try:
        yield
    finally:
        sys.path[:] = saved


def collect(sweep: str | None = None, store: str | None = None) -> list[JobReturn]:
    """The finished jobs of a sweep (default: the latest) as Hydra JobReturns, in job order.

    Refreshes the store first, like `python -m tsq collect`.
    """
    found, done = _finished_of(sweep, store)
    with jobs_import_path(found.spool):
        return [item.job_return() for item in done]


def collect_frame(
    sweep: str | None = None,
    store: str | None = None,
    by: str | Sequence[str] | None = None,
    sort: str | None = None,
    top: int | None = None,
) -> pandas.DataFrame:
    """The finished jobs as a pandas DataFrame with the columns of `collect --format csv`; with
    `by`, one row per group with the columns of `collect --by ... --format csv`."""
    from tsq.render.aggregate import aggregate, grouping
    from tsq.render.tables import collect_rows, to_frame

    groups = grouping(by, sort, top)
    found, done = _finished_of(sweep, store)
    items = [item.as_json() for item in done]
    if groups is None:
        return to_frame(*collect_rows(items))
    if not items:
        raise TsqError(f"sweep {found.id} has no finished job yet: nothing to aggregate")
    result = aggregate(items, *groups)
    return to_frame(result.columns(), result.rows())
