"""The plugins' options: the schemas of `hydra/launcher=ts`, `hydra/launcher=tsq_slurm` and
`hydra/sweeper=tsq`, defined once.

The Hydra plugin subclasses `LaunchOptions`, `SlurmLaunchOptions` and `SweepOptions` as its
config nodes, so this module is imported by every Hydra app on the machine: it imports nothing
but the standard library.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, ClassVar


class RetryCause(str, Enum):
    """Why an attempt ended, for `hydra.launcher.retry.causes` and `tsq retry --cause`: what its
    queue or tsq saw, never the task's own doing (see `tsq.causes.end_cause`). The members are
    named as written in a config: OmegaConf reads an enum value by its member's name."""

    lost = "lost"  # tsq lost it: its queue was restarted or forgot it, and it left no result
    signal = "signal"  # killed by a signal before it wrote a result (OOM killer, kill -9...)
    timeout = "timeout"  # Slurm: it hit its time limit (TIMEOUT, DEADLINE)
    preempted = "preempted"  # Slurm: preempted and not requeued by Slurm (PREEMPTED)
    node_failure = "node_failure"  # Slurm: its node failed (NODE_FAIL, BOOT_FAIL)

    def __str__(self) -> str:
        return self.value


@dataclass
class RetryPolicy:
    """`hydra.launcher.retry`: queue a job again, automatically, when its attempt ended for one
    of `causes` or (the task's own failure) with one of `exit_codes`, at most `max` times in
    all (`tsq retry`'s included). Asked for by naming a cause or an exit code; kept in the
    batch spec's header with the queue options, so every refresh, in any process and on any
    host, reads the same policy (`tsq.ops.retry.retry_ended`)."""

    causes: list[RetryCause] = field(default_factory=list)
    max: int = 2
    exit_codes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        # From the spec's JSON or from the plugin's config node: plain values either way.
        self.causes = [RetryCause(str(c)) for c in self.causes]
        self.exit_codes = [int(code) for code in self.exit_codes]
        self.max = int(self.max)

    @property
    def asked(self) -> bool:
        """Whether any job may be retried automatically (what the sweep's watcher runs for)."""
        return self.max > 0 and bool(self.causes or self.exit_codes)

    def as_json(self) -> dict[str, Any]:
        return {"causes": [c.value for c in self.causes], "max": self.max,
                "exit_codes": self.exit_codes}  # fmt: skip

    def describe(self) -> str:
        """One line for the launch summary."""
        whys = [c.value for c in self.causes] + [f"exit code {c}" for c in self.exit_codes]
        return f"up to {self.max} more attempts when a job ends for: {', '.join(whys)}"


@dataclass
class CommonOptions:
    """tsq's own options, the same for every queue."""

    # Block until every job has ended and return the real results (needed by adaptive sweepers).
    wait: bool = False
    # Store path, sqlite:/// or postgresql:// URL; default: $TSQ_STORE, else
    # $XDG_STATE_HOME/tsq/tsq.db.
    store: str | None = None
    # Extra environment variables for the jobs (on top of the launching shell's).
    env: dict[str, str] = field(default_factory=dict)
    # Names of variables (secrets: tokens, passwords) the jobs get from the environment of the
    # shell that queues them (the launch's; a retry's), never written into any config or spec
    # file. A name this shell does not have is refused.
    env_pass: list[str] = field(default_factory=list)
    # ts: start the jobs after a ts job (`ts:12`) or after every job of a sweep (`sweep:3f9a`:
    # id, prefix or dir). Plain `12` / `3f9a` too, but a number that starts a sweep id is
    # refused. Slurm: `slurm:123` or `sweep:3f9a`, as `--dependency=afterany`.
    depends_on: str | None = None
    # A shell command run once every job of the sweep has ended (however it ended), e.g.
    # `notify-send "sweep $TSQ_SWEEP: $TSQ_COUNTS"`; its environment holds TSQ_SWEEP,
    # TSQ_STORE, TSQ_COUNTS and TSQ_<STATE> counts. Waits outside the queue (no slot taken).
    # Write `$TSQ_COUNTS`, not `${TSQ_COUNTS}`: Hydra reads that as an OmegaConf interpolation,
    # twice (so `\${...}` is not enough: `\\\${TSQ_COUNTS}`); the plugin refuses it in one line.
    notify: str | None = None
    # Print the jobs the sweep would queue (numbers, overrides, the first job's config) and
    # queue and record nothing (`tsq.launch.plan`).
    dry_run: bool = False
    # Jobs import the app's code as it was at launch, from a snapshot of its project.
    snapshot: bool = True
    # Where snapshots live; default: $TSQ_SNAPSHOTS, else `snapshots/` beside a SQLite store
    # (for a PostgreSQL store: $XDG_STATE_HOME/tsq/snapshots).
    snapshot_dir: str | None = None
    # A project larger than this (MB, files over snapshot_max_file_mb not counted) is refused.
    snapshot_max_mb: float = 100.0
    # Files larger than this (MB: data, checkpoints) are linked live, not copied, in the snapshot.
    snapshot_max_file_mb: float = 2.0
    # Queue a job again, automatically, when it ends for one of these causes (lost, signal,
    # timeout, preempted, node_failure) or, its task failing, with one of these exit codes: at
    # most `max` times. The sweep's watcher (as for `notify`) retries while nothing else runs.
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # A job whose task config and code are those of a job that completed in the same store is
    # not queued: it is recorded completed with that job's result (`tsq.launch.reuse`).
    reuse: bool = False

    # The queue the jobs go to: its name in `tsq.backends`' registry.
    queue: ClassVar[str]

    def queueing(self) -> dict[str, Any]:
        """How this launch queues its jobs (`tsq.backends.queueing.QueueOptions`' fields, kept
        in the batch spec), with the launching process's cwd and environment."""
        raise NotImplementedError

    def queue_location(self) -> dict[str, Any]:
        """Where the queue is, as its backend's `detect` takes it (`tsq.backends.detect`)."""
        return {}

    @classmethod
    def from_config(cls, options: dict[str, Any]) -> Any:
        """From the plugin's keyword arguments (nested config nodes arrive as DictConfig)."""
        env = {str(k): str(v) for k, v in dict(options.get("env") or {}).items()}
        env_pass = [str(name) for name in options.get("env_pass") or []]
        retry = RetryPolicy(**dict(options.get("retry") or {}))
        return cls(**{**options, "env": env, "env_pass": env_pass, "retry": retry})

    def _queueing(self, **backend: Any) -> dict[str, Any]:
        """`queueing`: the launch's cwd and environment, less the `env_pass` variables."""
        recorded = {k: v for k, v in os.environ.items() if k not in self.env_pass}
        return dict(
            env={**recorded, **self.env},
            cwd=os.getcwd(),
            env_pass=list(self.env_pass),
            retry=self.retry.as_json(),
            **backend,
        )


@dataclass
class LaunchOptions(CommonOptions):
    """`hydra/launcher=ts`."""

    # ts socket; default: $TS_SOCKET, else task-spooler's own default.
    socket: str | None = None
    # `auto` finds `tsp` (Debian) or `ts`; or a name or path.
    binary: str = "auto"
    # ts slots each job takes (`ts -N`); more than the ts server has is refused.
    slots: int = 1
    # GPUs each job takes (`ts -G`, GPU fork of task-spooler only).
    gpus: int = 0
    # At most this many jobs of the sweep wait in ts at once (each is a ts client process and
    # a connection; a ts server takes about a thousand): the rest wait in tsq's store and are
    # queued as these end (`tsq.ops.feed`).
    max_queued: int = 500

    queue: ClassVar[str] = "ts"

    def queueing(self) -> dict[str, Any]:
        return self._queueing(slots=self.slots, gpus=self.gpus)

    def queue_location(self) -> dict[str, Any]:
        return {"binary": self.binary, "socket": self.socket}


@dataclass
class SlurmLaunchOptions(CommonOptions):
    """`hydra/launcher=tsq_slurm`: hydra-submitit-launcher's Slurm options, same names and
    meanings (README "Slurm"), plus tsq's own above."""

    # Where Slurm writes each job's output (`%j`: the array's job id); default: the sweep's
    # spool dir (`<sweep dir>/.tsq/<sweep id>/slurm/`).
    submitit_folder: str | None = None
    timeout_min: int = 60
    cpus_per_task: int | None = None
    gpus_per_node: int | None = None
    tasks_per_node: int = 1  # tasks per node, each running the task under srun (`tsq.job.ranks`)
    mem_gb: int | None = None
    nodes: int = 1
    # The Slurm job name; default: the sweep's label (`<task name>/<sweep id>`), by which tsq
    # finds a job queued but not recorded.
    name: str | None = None
    stderr_to_stdout: bool = False
    partition: str | None = None
    qos: str | None = None
    comment: str | None = None
    constraint: str | None = None
    exclude: str | None = None
    gres: str | None = None
    cpus_per_gpu: int | None = None
    gpus_per_task: int | None = None
    mem_per_gpu: str | None = None
    mem_per_cpu: str | None = None
    account: str | None = None
    # SIGUSR2 this many seconds before the time limit to every task (`--signal=USR2@N`), as
    # submitit: noted, or the job requeued (`max_num_timeout`). 0: no signal.
    signal_delay_s: int = 120
    # Requeue a job at its time limit up to this many times (`tsq.job.timelimit`).
    max_num_timeout: int = 0
    # Any other sbatch option: {"mail_type": "END"} -> --mail-type=END.
    additional_parameters: dict[str, Any] = field(default_factory=dict)
    # At most this many jobs of a batch run at once (`--array=...%N`).
    array_parallelism: int = 256
    # Shell lines run before the job (`module load ...`).
    setup: list[str] | None = None
    # More srun options for the job's tasks (`srun --unbuffered ... <srun_args>`).
    srun_args: list[str] | None = None

    @property
    def slurm_options(self) -> dict[str, Any]:
        own = {f.name for f in fields(CommonOptions)}
        return {
            f.name: _plain(getattr(self, f.name))
            for f in fields(SlurmLaunchOptions)
            if f.name not in own
        }

    queue: ClassVar[str] = "slurm"

    def queueing(self) -> dict[str, Any]:
        return self._queueing(slurm=self.slurm_options)


def _plain(value: Any) -> Any:
    """Config values (DictConfig, ListConfig) as plain JSON-able Python."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (
        hasattr(value, "__iter__") and not isinstance(value, (str, bytes))
    ):
        return [_plain(v) for v in value]
    return value


@dataclass
class SweepOptions:
    """`hydra/sweeper=tsq`: Hydra's basic sweeper's options, and how much of the sweep a
    launch composes to check it (`tsq.launch.sweeper`)."""

    # Jobs per launcher call (one spec, one Slurm array or more); None: the whole grid.
    max_batch_size: int | None = None
    # Sweep parameters in the config, as the basic sweeper's (`{lr: "0.1,0.01"}`); the command
    # line's overrides come after them.
    params: dict[str, str] | None = None
    # Jobs composed at launch, so a bad override or config stops it before anything is
    # queued: the first, then jobs taking between them every swept value, up to this many.
    # The others compose their own config when they start.
    compose_at_launch: int = 8
