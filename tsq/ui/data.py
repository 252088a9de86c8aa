"""What the page shows, as JSON-ready dicts: the sweeps with their progress, and one sweep's
jobs, results, aggregates and plot data, in columns (one list per field) so that a sweep of
10k jobs is one compact document.

Result summaries come from the store's copies (one query with the job rows; a file only for a
job that ended before tsq kept copies, or whose summary is too large to keep). `Results` keeps
those it has parsed: a terminal job's summary never changes (a retry is a new attempt), so each
is parsed once per server, not each time a live sweep's document is rebuilt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tsq.errors import TsqError
from tsq.files.results import ResultSummary, ended_summary
from tsq.render.aggregate import Aggregate, aggregate, returned_metrics
from tsq.render.tables import override_dict
from tsq.render.views import ORDER, error_of, exit_text
from tsq.states import TERMINAL, JobState

if TYPE_CHECKING:
    from tsq.store import Job, Store, Sweep

SEED_WORDS = ("seed",)


# The `Job` fields the page reads, in the order `job_rows` selects them.
ROW_FIELDS = (
    "num", "state", "attempt", "queue_id", "exit_code", "signal", "reason", "submitted_at",
    "started_at", "ended_at", "overrides", "output_dir", "result_summary",
)  # fmt: skip


# The row fields the page gets as they are, one list each.
JOB_COLUMNS = ("num", "attempt", "queue_id", "reason", "submitted_at", "started_at", "ended_at")


def job_rows(store: Store, sweep_id: str) -> list[Any]:
    """The sweep's jobs in job order, as plain rows of `ROW_FIELDS`."""
    return store.job_fields(sweep_id, ROW_FIELDS)


def sweeps_payload(sweeps: Sequence[Sweep], counts: Mapping[str, Mapping[str, int]]) -> list[dict]:
    """One entry per sweep, newest first, with its jobs counted by state."""
    out = []
    for sweep in sorted(sweeps, key=lambda s: s.created_at, reverse=True):
        by_state = counts.get(sweep.id, {})
        out.append(
            {
                "id": sweep.id,
                "task_name": sweep.task_name,
                "created_at": sweep.created_at,
                "sweep_dir": sweep.sweep_dir,
                "jobs": sum(by_state.values()),
                "ended": sum(n for s, n in by_state.items() if JobState(s).terminal),
                "counts": {str(s): by_state[str(s)] for s in ORDER if by_state.get(str(s))},
            }
        )
    return out


def swept_keys(overrides: Sequence[Mapping[str, str]]) -> list[str]:
    """Override keys that take more than one value across the jobs, in first-seen order."""
    values: dict[str, set[str]] = {}
    for job in overrides:
        for key, value in job.items():
            values.setdefault(key, set()).add(value)
    return [key for key, seen in values.items() if len(seen) > 1]


def default_by(keys: Sequence[str]) -> list[str]:
    """Group by every swept key but the seeds: the seeds are what is aggregated over."""
    return [k for k in keys if not any(word in k.lower() for word in SEED_WORDS)]


class Results:
    """Result summaries by (jobs dir, num, attempt), parsed once.

    Shared by the server's threads without a lock: a read or a store of one dict item is
    atomic in CPython, and two requests that miss the same key both parse the same summary and
    store it."""

    def __init__(self) -> None:
        # keyed by the jobs dir as a string: hashing and comparing a Path costs ~10x more
        self._read: dict[tuple[str, int, int], tuple[ResultSummary | None, str | None]] = {}

    def summary(self, jobs_dir: str, job: Job) -> tuple[ResultSummary | None, str | None]:
        key = (jobs_dir, job.num, job.attempt)
        known = self._read.get(key)
        if known is not None:
            return known
        known = self._read[key] = ended_summary(jobs_dir, job)
        return known

    def items(self, sweep: Sweep, jobs: Sequence[Job]) -> list[tuple[int, dict[str, Any]]]:
        """(index in `jobs`, item) of the terminal jobs: the fields of `Finished.as_json()`
        that the aggregate and the plots read (num, state, return_value, error)."""
        jobs_dir = str(sweep.spool.jobs)
        out = []
        for i, job in enumerate(jobs):
            if job.state not in TERMINAL:
                continue
            summary, problem = self.summary(jobs_dir, job)
            item = {
                "num": job.num,
                "state": job.state,
                "return_value": summary.return_value if summary else None,
                "error": error_of(job, summary, problem),
            }
            out.append((i, item))
        return out


def _number(value: Any) -> float | None:
    """A plot value: numbers as they are, NaN and anything else as None (a gap)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def aggregate_or_reason(
    items: Sequence[Mapping[str, Any]],
    by: Sequence[str],
    parsed: Sequence[Mapping[str, str]],
    found: Mapping[str, list[Any]],
) -> dict[str, Any]:
    """The aggregate as JSON, or why there is none (nothing finished, nothing numeric).
    `parsed`: each item's overrides, and `found`: `returned_metrics(items)`, from the caller."""
    try:
        result: Aggregate = aggregate(items, by, parsed=parsed, found=found)
    except TsqError as e:
        return {"error": str(e), "by": list(by)}
    return {**result.as_json(), "columns": result.columns(), "rows": result.rows()}


def sweep_payload(
    sweep: Sweep, jobs: Sequence[Job], results: Results, by: Sequence[str] | None = None
) -> dict[str, Any]:
    """Everything the page shows of one sweep; `jobs` as `job_rows` reads them."""
    column = (
        dict(zip(ROW_FIELDS, map(list, zip(*jobs, strict=True)), strict=True))
        if jobs
        else {name: [] for name in ROW_FIELDS}
    )
    overrides = [override_dict(o) for o in column["overrides"]]
    keys = swept_keys(overrides)
    indexed = results.items(sweep, jobs)
    items = [item for _, item in indexed]
    by = default_by(keys) if by is None else list(by)
    found = returned_metrics(items)
    metrics = [m for m, values in found.items() if any(_number(v) is not None for v in values)]
    values: dict[str, list[float | None]] = {m: [None] * len(jobs) for m in metrics}
    errors: list[str | None] = [None] * len(jobs)
    for i, item in indexed:
        errors[i] = item["error"]
        value = item["return_value"]
        mapping = value if isinstance(value, Mapping) else {"return_value": value}
        for metric in metrics:
            values[metric][i] = _number(mapping.get(metric))
    return {
        "sweep": {
            "id": sweep.id,
            "task_name": sweep.task_name,
            "created_at": sweep.created_at,
            "sweep_dir": sweep.sweep_dir,
            "git_commit": sweep.git_commit,
            "git_dirty": sweep.git_dirty,
        },
        "keys": keys,
        "all_keys": list(dict.fromkeys(k for o in overrides for k in o)),
        "by": by,
        "jobs": {
            **{name: column[name] for name in JOB_COLUMNS},
            "state": [str(state) for state in column["state"]],
            "exit": [exit_text(job) for job in jobs],
            "overrides": [" ".join(o) for o in column["overrides"]],
            "values": {k: [o.get(k) for o in overrides] for k in keys},
            "error": errors,
        },
        "metrics": metrics,
        "values": values,
        "aggregate": aggregate_or_reason(items, by, [overrides[i] for i, _ in indexed], found),
    }
