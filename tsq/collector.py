"""Hand back finished jobs: Hydra `JobReturn`s for Python, rows for JSON and tables.

JSON and tables come from the result summaries, so they never unpickle anything; `JobReturn`s
come from the pickles. Every terminal job is handed back, in job order: lost and cancelled jobs,
and jobs whose result file is unusable, as FAILED with a `ResultUnavailable` that says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsq.errors import SpecError
from tsq.results import ResultSummary, ResultUnavailable, load_job_return, read_summary
from tsq.spool import SpoolDir
from tsq.states import JobState
from tsq.store import Job, Store, Sweep


@dataclass(frozen=True)
class Finished:
    """One terminal job with its result summary, or why it has none."""

    sweep: Sweep
    job: Job
    summary: ResultSummary | None
    problem: str | None = None  # set when a completed or failed job's result is unusable

    @property
    def spool(self) -> SpoolDir:
        return SpoolDir(Path(self.sweep.spool_dir))

    @property
    def error(self) -> str | None:
        if self.job.job_state == JobState.COMPLETED:
            return self.problem
        if self.summary is not None and self.summary.error:
            return self.summary.error
        return f"{self.job.state}: {self.job.reason or 'no reason recorded'}"

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
        }

    def job_return(self) -> Any:
        """The JobReturn the job wrote, or a FAILED one explaining why there is none."""
        from hydra.core.utils import JobReturn, JobStatus

        reason = self.error
        if self.summary is not None:
            try:
                return load_job_return(self.spool.result_pickle(self.job.num, self.job.attempt))
            except SpecError as e:
                reason = str(e)
        return JobReturn(
            overrides=list(self.job.overrides),
            task_name=self.sweep.task_name,
            working_dir=self.job.output_dir,
            status=JobStatus.FAILED,
            _return_value=ResultUnavailable(
                f"job {self.job.num} of sweep {self.sweep.id}: {reason}"
            ),
        )


def finished(sweep: Sweep, jobs: list[Job]) -> tuple[list[Finished], int]:
    """The sweep's terminal jobs in job order, and how many are not finished yet."""
    spool = SpoolDir(Path(sweep.spool_dir))
    done: list[Finished] = []
    for job in jobs:
        if not job.job_state.terminal:
            continue
        summary, problem = None, None
        if job.job_state in (JobState.COMPLETED, JobState.FAILED):
            path = spool.result_json(job.num, job.attempt)
            try:
                summary = read_summary(path)
            except SpecError as e:
                problem = str(e)
            else:
                if summary is None:
                    problem = f"its result file {path} is missing"
        done.append(Finished(sweep, job, summary, problem))
    return done, len(jobs) - len(done)


def _finished_of(sweep: str | None, store: str | None) -> list[Finished]:
    from tsq.status import refresh

    opened = Store.open(store)
    refresh(opened)
    found = opened.find_sweep(sweep)
    done, _ = finished(found, opened.jobs([found.id]))
    return done


def collect(sweep: str | None = None, store: str | None = None) -> list[Any]:
    """The finished jobs of a sweep (default: the latest) as Hydra JobReturns, in job order.

    Refreshes the store first, like `python -m tsq collect`.
    """
    return [item.job_return() for item in _finished_of(sweep, store)]


def collect_frame(sweep: str | None = None, store: str | None = None) -> Any:
    """The finished jobs as a pandas DataFrame with the columns of `collect --format csv`."""
    from tsq.tables import collect_rows, to_frame

    return to_frame(*collect_rows([item.as_json() for item in _finished_of(sweep, store)]))
