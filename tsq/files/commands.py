"""The command lines tsq starts its own processes with, built and read back here only.

They outlive the version of tsq that wrote them: a queued job runs its command line whenever
its queue starts it, maybe after tsq was upgraded, and a refresh reads a live job's command line
back (`/proc/<pid>/cmdline`) to tell its runner from a recycled pid. So the module paths below
stay what every earlier version queued (`tsq/runner.py` and the others are the entry points
that keep them), and a job attempt's (num, attempt) is written and parsed by `runner_argv` and
`RunnerArgs` alone.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

RUNNER = "tsq.runner"  # the job: `tsq.job.runner`
BARRIER = "tsq.barrier"  # the barrier job of `depends_on=sweep:`: `tsq.job.barrier`
FEED = "tsq.feed"  # a sweep's feeder of held jobs: `tsq.ops.feed`
NOTIFY = "tsq.notify"  # a sweep's notify watcher: `tsq.ops.notify`


def barrier_argv(watch: Path) -> list[str]:
    """The barrier job's command line, given its watch list (`SpoolDir.after`)."""
    return [sys.executable, "-m", BARRIER, str(watch)]


def watcher_argv(module: str, spool_root: Path) -> list[str]:
    """A sweep watcher's command line (`FEED`, `NOTIFY`)."""
    return [sys.executable, "-m", module, str(spool_root)]


def runner_argv(
    spec: Path, num: int | str, attempt: int = 1, restart: str | None = None
) -> list[str]:
    """The job runner's command line, as every backend queues it (`num` and `restart` may be
    shell words for a queue that runs it through a shell, e.g. Slurm's array task id). A queue
    that may run one submission again (Slurm's requeue) passes `restart`, which run of it this
    is: each run is an attempt of its own, `attempt + restart` (`RunnerArgs`)."""
    argv = [sys.executable, "-m", RUNNER, str(spec), str(num)]
    if restart is not None:
        return [*argv, str(attempt), restart]
    return [*argv, str(attempt)] if attempt > 1 else argv


@dataclass(frozen=True)
class RunnerArgs:
    """The runner's arguments, read back (by the runner, and by the refresh from a process's
    command line): which job, and the attempt whose files this run writes."""

    spec: Path
    num: int
    attempt: int  # the attempt queued, plus the run's restart count
    restart: int

    @classmethod
    def parse(cls, args: Sequence[str]) -> RunnerArgs | None:
        """`SPEC NUM [ATTEMPT [RESTART]]`; None when they are not that."""
        if not 2 <= len(args) <= 4 or not all(arg.isdigit() for arg in args[1:]):
            return None
        queued = int(args[2]) if len(args) > 2 else 1
        restart = int(args[3]) if len(args) > 3 else 0
        return cls(Path(args[0]), int(args[1]), queued + restart, restart)
