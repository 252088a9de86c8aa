"""How each job of a sweep is queued, whatever the queue: the options a batch spec's header keeps
(`tsq.files.jobspec`, key "queue") so that every attempt, retries included, is queued alike.

Built by the launcher from `tsq.options` (which imports nothing of tsq: every Hydra app imports
it) and read back from a spec by the feeder and `tsq retry`; standard library only, as the
backends that take it run in all of those processes.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from tsq.options import RetryPolicy


@dataclass(frozen=True)
class QueueOptions:
    """How each job is queued; kept in the batch spec's header so that every attempt, retries
    included, is queued alike whatever shell runs `tsq retry`: the same slots and GPUs, in the
    launch's working directory (`cwd`) with the launch's whole environment (`env`: the launching
    shell's plus `hydra.launcher.env`). Specs from before `cwd` was recorded hold only the extra
    variables in `env` (see `job_environment`). The variables named in `env_pass` are left out
    of `env` (secrets: the spec is a file): each queueing takes them from its own process's
    environment, the launch's or the retry's."""

    slots: int = 1
    gpus: int = 0
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    # Slurm: `SlurmLaunchOptions.slurm_options` (hydra-submitit-launcher's names); empty for ts.
    slurm: dict[str, Any] = field(default_factory=dict)
    env_pass: list[str] = field(default_factory=list)
    # `hydra.launcher.retry`: kept here so that every process that refreshes the sweep reads
    # the policy its launch asked for (`tsq.ops.retry.retry_ended`).
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if isinstance(self.retry, dict):  # as the spec's JSON holds it
            object.__setattr__(self, "retry", RetryPolicy(**self.retry))

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "retry": self.retry.as_json()}

    def job_environment(self) -> dict[str, str]:
        """The environment the job runs in: what the spec recorded, and the `env_pass`
        variables of this process (which never were in the spec)."""
        passed = {name: os.environ[name] for name in self.env_pass if name in os.environ}
        if self.cwd is None:  # an older spec: `env` holds only the extra variables
            return {**os.environ, **self.env}
        return {**self.env, **passed}

    def unset_passed(self) -> list[str]:
        """The `env_pass` variables this process does not have: its jobs would run without."""
        return [name for name in self.env_pass if name not in os.environ]
