"""What a running task knows of its job: `tsq.job_env()`, from the environment alone.

The runner (`tsq.job.runner`) exports which job and attempt this is (`TSQ_*`); Slurm's `srun`
exports the task's place among the job's tasks (`SLURM_*`, the variables submitit's
`SlurmJobEnvironment` reads, so the two agree). Nothing here needs submitit, Hydra or a queue
client: a task imports it at no cost. Outside a multi-task Slurm job every task is rank 0 of 1.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

#: Set by the runner for the task (and read back by `job_env`).
JOB_ID = "TSQ_JOB_ID"
JOB_NUM = "TSQ_JOB_NUM"
ATTEMPT = "TSQ_ATTEMPT"
RESTART = "TSQ_RESTART"
#: Set by the Slurm batch script: the runner takes its rank from `SLURM_*` only then (a ts job
#: started from inside a Slurm allocation inherits its `SLURM_*` and is still one task).
QUEUE = "TSQ_QUEUE"
MAX_NUM_TIMEOUT = "TSQ_MAX_NUM_TIMEOUT"
#: `TSQ_OUTPUT_FD1` / `2`: the batch's output files, where srun relays a lone task's output.
OUTPUT_FD = "TSQ_OUTPUT_FD"


def expand_hostlist(hostlist: str) -> list[str]:
    """Slurm's compressed node list as host names: "a[1-3,5],b" -> a1 a2 a3 a5 b (zero padding
    kept: "n[08-10]" -> n08 n09 n10), as `scontrol show hostnames` prints it."""
    hosts: list[str] = []
    for group in filter(None, re.split(r",(?![^\[]*\])", hostlist)):
        names = [""]
        for literal, ranges in re.findall(r"([^\[\]]*)(?:\[([^\]]*)\])?", group):
            names = [name + literal for name in names]
            if ranges:
                names = [name + suffix for name in names for suffix in _expand_ranges(ranges)]
        hosts.extend(names)
    return hosts


def _expand_ranges(ranges: str) -> list[str]:
    out: list[str] = []
    for part in ranges.split(","):
        low, _, high = part.partition("-")
        if not high:
            out.append(low)
            continue
        out.extend(f"{n:0{len(low)}d}" for n in range(int(low), int(high) + 1))
    return out


@dataclass(frozen=True)
class JobEnv:
    """One task of one job attempt.

    `rank` / `world_size` number every task of the job (Slurm's `SLURM_PROCID` /
    `SLURM_NTASKS`), `local_rank` the tasks on this node, `node` / `num_nodes` the nodes;
    `hostnames` are the job's nodes, `master_addr` the first (rank 0's, with Slurm's block
    distribution): what `torch.distributed` needs. `attempt` counts every run of the job (a
    Slurm requeue and `tsq retry` each start a new one), `restart` the reruns of this
    submission by Slurm (a requeue at the time limit, a preemption)."""

    job_id: str
    num: int
    attempt: int
    restart: int
    rank: int
    local_rank: int
    world_size: int
    node: int
    num_nodes: int
    hostnames: tuple[str, ...]

    @property
    def resumed(self) -> bool:
        """True when an earlier run of this job ran in the same output dir and may have left
        a checkpoint there (a requeued run, a `tsq retry`): load it rather than start over."""
        return self.attempt > 1

    @property
    def master_addr(self) -> str:
        return self.hostnames[0]


def in_slurm_tasks(environ: Mapping[str, str]) -> bool:
    """Whether these are the variables of a task that tsq started under `srun`."""
    return environ.get(QUEUE) == "slurm" and "SLURM_PROCID" in environ


def job_env(environ: Mapping[str, str] | None = None) -> JobEnv:
    """The running task's `JobEnv` (RuntimeError outside a tsq job)."""
    env = os.environ if environ is None else environ
    if ATTEMPT not in env:
        raise RuntimeError("tsq.job_env() is for a task tsq runs (no TSQ_ATTEMPT here)")
    slurm = in_slurm_tasks(env)

    def number(name: str, default: int) -> int:
        return int(env.get(name, default)) if slurm else default

    hostnames = expand_hostlist(env.get("SLURM_JOB_NODELIST", "")) if slurm else []
    return JobEnv(
        job_id=env.get(JOB_ID, ""),
        num=int(env.get(JOB_NUM, 0)),
        attempt=int(env[ATTEMPT]),
        restart=int(env.get(RESTART, 0)),
        rank=number("SLURM_PROCID", 0),
        local_rank=number("SLURM_LOCALID", 0),
        world_size=number("SLURM_NTASKS", 1),
        node=number("SLURM_NODEID", 0),
        num_nodes=number("SLURM_JOB_NUM_NODES", 1),
        hostnames=tuple(hostnames or [socket.gethostname()]),
    )
