"""The launcher's options: the schema of `hydra/launcher=ts`, defined once.

The Hydra plugin subclasses `LaunchOptions` as its config node, so this module is imported by
every Hydra app on the machine: it imports nothing but the standard library.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class TsOptions:
    """How each job is queued; kept in the batch spec's header so that every attempt, retries
    included, is queued alike whatever shell runs `tsq retry`: the same slots and GPUs, in the
    launch's working directory (`cwd`) with the launch's whole environment (`env`: the launching
    shell's plus `hydra.launcher.env`). Specs from before `cwd` was recorded hold only the extra
    variables in `env` (see `job_environment`)."""

    slots: int = 1
    gpus: int = 0
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def job_environment(self) -> dict[str, str]:
        """The environment the job runs in."""
        if self.cwd is None:  # an older spec: `env` holds only the extra variables
            return {**os.environ, **self.env}
        return dict(self.env)


@dataclass
class LaunchOptions:
    # Block until every job has ended and return the real results (needed by adaptive sweepers).
    wait: bool = False
    # Store path, sqlite:/// or postgresql:// URL; default: $TSQ_STORE, else
    # $XDG_STATE_HOME/tsq/tsq.db.
    store: str | None = None
    # ts socket; default: $TS_SOCKET, else task-spooler's own default.
    socket: str | None = None
    # `auto` finds `tsp` (Debian) or `ts`; or a name or path.
    binary: str = "auto"
    # ts slots each job takes (`ts -N`); more than the ts server has is refused.
    slots: int = 1
    # GPUs each job takes (`ts -G`, GPU fork of task-spooler only).
    gpus: int = 0
    # Extra environment variables for the jobs (on top of the launching shell's).
    env: dict[str, str] = field(default_factory=dict)
    # Start the jobs after a ts job (`ts:12`) or after every job of a sweep (`sweep:3f9a`: id,
    # prefix or dir). Plain `12` / `3f9a` too, but a number that starts a sweep id is refused.
    depends_on: str | None = None
    # A shell command run once every job of the sweep has ended (however it ended), e.g.
    # `notify-send "sweep $TSQ_SWEEP: $TSQ_COUNTS"`; its environment holds TSQ_SWEEP,
    # TSQ_STORE, TSQ_COUNTS and TSQ_<STATE> counts. Waits outside the queue (no slot taken).
    notify: str | None = None
    # Jobs import the app's code as it was at launch, from a snapshot of its project.
    snapshot: bool = True
    # Where snapshots live; default: $TSQ_SNAPSHOTS, else `snapshots/` beside a SQLite store
    # (for a PostgreSQL store: $XDG_STATE_HOME/tsq/snapshots).
    snapshot_dir: str | None = None
    # A project larger than this (MB, files over snapshot_max_file_mb not counted) is refused.
    snapshot_max_mb: float = 100.0
    # Files larger than this (MB: data, checkpoints) are left out of the snapshot.
    snapshot_max_file_mb: float = 2.0

    @property
    def ts(self) -> TsOptions:
        """How this launch queues its jobs, with the launching process's cwd and environment."""
        return TsOptions(
            slots=self.slots, gpus=self.gpus, env={**os.environ, **self.env}, cwd=os.getcwd()
        )

    @classmethod
    def from_config(cls, options: dict[str, Any]) -> LaunchOptions:
        """From the plugin's keyword arguments (nested config nodes arrive as DictConfig)."""
        env = {str(k): str(v) for k, v in dict(options.get("env") or {}).items()}
        return cls(**{**options, "env": env})
