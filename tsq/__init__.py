"""tsq: fire-and-forget Hydra sweeps on task-spooler.

Kept free of imports: every job's interpreter imports this package (`python -m tsq.runner`), and
must not pay for SQLAlchemy or Hydra's sweep machinery it does not use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for annotations only: importing them costs every job
    from collections.abc import Sequence

    import pandas
    from hydra.core.utils import JobReturn

    from tsq.jobenv import JobEnv

__version__ = "0.1.0"


def collect(sweep: str | None = None, store: str | None = None) -> list[JobReturn]:
    """The finished jobs of `sweep` (id, unique id prefix or sweep dir; default: the latest
    sweep) as Hydra `JobReturn`s in job order, after bringing the store up to date.

    `store` is a path or sqlite URL; default `$TSQ_STORE`, else the per-user store.
    """
    from tsq.ops.collector import collect as collect_returns

    return collect_returns(sweep, store)


def collect_frame(
    sweep: str | None = None,
    store: str | None = None,
    by: str | Sequence[str] | None = None,
    sort: str | None = None,
    top: int | None = None,
) -> pandas.DataFrame:
    """Like `collect`, as a pandas DataFrame: one row per finished job, one column per override
    key and, when the jobs return mappings, one per returned key (`return.<key>`). Needs pandas
    (`pip install 'tsq[pandas]'`).

    With `by` (`"lr,model"` or a list of override keys): one row per group of jobs sharing
    those overrides, with `jobs`, `failed` and, per numeric metric, `<metric>.n`, `.nan`,
    `.none`, `.mean`, `.std`, `.min`, `.max`, and the `best` job; `sort="loss"` (or
    `"acc:max"`) orders the groups, `top=N` keeps the first N. As `tsq collect --by`."""
    from tsq.ops.collector import collect_frame as frame

    return frame(sweep, store, by=by, sort=sort, top=top)


def job_env() -> JobEnv:
    """Inside a task tsq runs: which job, attempt and rank this is (`tsq.jobenv.JobEnv`: rank,
    local rank, world size, node list of a multi-task Slurm job; `resumed` when an earlier run
    may have left a checkpoint). Needs no submitit; RuntimeError outside a tsq job."""
    from tsq.jobenv import job_env as read

    return read()
