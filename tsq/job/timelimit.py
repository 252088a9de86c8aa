"""Slurm's warning before a job's time limit (`signal_delay_s`: SIGUSR2 to every task), and the
requeue it may bring (`max_num_timeout`), as submitit does it.

With `max_num_timeout=0` every task notes the warning and runs on (SIGUSR2 would kill it by
default) until Slurm stops it. With N > 0, rank 0 requeues the job (`scontrol requeue`: the
same array task, run again in the same output dir as the next attempt) at most N times over
the runs of one submission, and records why this run ends (`Ending`, counting the timeouts, for
the next run to read). Slurm then stops every task: what a task has not saved by then is lost,
so a task that can be requeued keeps checkpoints of its own and resumes from the latest when
`tsq.job_env().resumed` (the protocol, in the README's Slurm section).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from tsq.errors import SpecError
from tsq.files.ending import Ending, read_ending
from tsq.files.spool import SpoolDir

TIMEOUT = 60.0  # seconds for scontrol (Slurm's clients retry forever when the controller is down)


def _say(text: str) -> None:
    print(f"tsq: {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class TimeLimit:
    """The SIGUSR2 handler of one run: job `num`, `attempt` (this submission's run `restart`)."""

    spool: SpoolDir
    num: int
    attempt: int
    restart: int
    rank: int
    max_num_timeout: int

    def install(self) -> None:
        signal.signal(signal.SIGUSR2, self)

    def timeouts_so_far(self) -> int:
        """How often this submission was requeued at its time limit, as its last earlier run
        that was says (a preempted run leaves no count)."""
        for attempt in range(self.attempt - 1, self.attempt - self.restart - 1, -1):
            try:
                ending = read_ending(self.spool.ending(self.num, attempt))
            except SpecError:
                continue
            if ending is not None and ending.timeouts:
                return ending.timeouts
        return 0

    def __call__(self, signum: int, frame: Any) -> None:
        if self.max_num_timeout <= 0 or self.rank != 0:
            if self.rank == 0:
                _say(
                    "Slurm sent SIGUSR2: the job's time limit is signal_delay_s away; it runs "
                    "on (max_num_timeout=0: it is not requeued)"
                )
            return
        used = self.timeouts_so_far()
        if used >= self.max_num_timeout:
            _say(
                f"Slurm sent SIGUSR2: the job's time limit is near and it was requeued "
                f"max_num_timeout={self.max_num_timeout} times already: it runs on until "
                "Slurm stops it"
            )
            return
        path = self.spool.ending(self.num, self.attempt)
        why = (
            f"reached its time limit: requeued by tsq "
            f"(timeout {used + 1} of max_num_timeout={self.max_num_timeout})"
        )
        if not Ending(reason=why, timeouts=used + 1).write_first(path):
            return  # this run is ending already (a rank failed)
        job = os.environ.get("SLURM_JOB_ID", "")
        try:
            done = subprocess.run(
                ["scontrol", "requeue", job],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
            error = " ".join(done.stderr.split()) if done.returncode else None
        except (OSError, subprocess.TimeoutExpired) as e:
            error = str(e)
        if error is not None:
            path.unlink(missing_ok=True)
            _say(f"could not requeue Slurm job {job} at its time limit ({error}); it runs on")
            return
        _say(
            f"the time limit is near: requeued Slurm job {job} (timeout {used + 1} of "
            f"max_num_timeout={self.max_num_timeout}); Slurm stops this run now, the next "
            "one resumes from the task's checkpoints"
        )
