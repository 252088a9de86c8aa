"""The tasks of a multi-task job (Slurm `--ntasks-per-node`, `--nodes`): one result, never raced.

Every rank runs the task (as submitit runs it, for `torch.distributed` and the like). Rank 0
alone writes the job's result; every other rank leaves a record of how it ended
(`SpoolDir.rank_result_json`) and, when it failed, the run's `Ending` (the first failing rank
writes it). Rank 0, its task done, waits for the others' records and writes the job's result:
its own return value when every rank completed, else the exception of the rank that failed
first. A rank that dies without a record ends the step (srun's `--kill-on-bad-exit`), so rank 0
never waits for a rank that is gone; a rank 0 stopped that way while another rank's failure is
on record still writes that failure (`stop_when_a_rank_fails`), else Slurm's exit and the
`Ending` say why.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tsq.errors import SpecError
from tsq.files.ending import Ending
from tsq.files.results import ResultSummary, load_job_return, read_summary, write_result
from tsq.jobenv import in_slurm_tasks

if TYPE_CHECKING:
    from hydra.core.utils import JobReturn

    from tsq.files.spool import SpoolDir

POLL = 0.2  # seconds between rank 0's looks for the other ranks' records


@dataclass(frozen=True)
class Place:
    """This process's rank among the job's `ranks` tasks (rank 0 of 1 outside `srun`)."""

    rank: int = 0
    ranks: int = 1

    @classmethod
    def here(cls, environ: Mapping[str, str]) -> Place:
        if not in_slurm_tasks(environ):
            return cls()
        return cls(int(environ["SLURM_PROCID"]), int(environ.get("SLURM_NTASKS", "1")))


class RankFailed(Exception):
    """Rank 0 was stopped because another rank failed (its exception is the job's)."""


@dataclass(frozen=True)
class Ranks:
    """The other ranks' records of one job attempt, as rank 0 reads them."""

    spool: SpoolDir
    num: int
    attempt: int
    ranks: int

    def ended(self) -> dict[int, ResultSummary | None]:
        ended: dict[int, ResultSummary | None] = {}
        for rank in range(1, self.ranks):
            path = self.spool.rank_result_json(self.num, self.attempt, rank)
            try:
                ended[rank] = read_summary(path)
            except SpecError:
                ended[rank] = None  # being written, or damaged: not an ending yet
        return ended

    def first_failure(self) -> tuple[float, int, ResultSummary] | None:
        failed = [(s.ended_at, r, s) for r, s in self.ended().items() if s and s.exit_code]
        return min(failed, key=lambda f: (f[0], f[1])) if failed else None

    def stop_when_a_rank_fails(self) -> None:
        """On SIGTERM (srun stopping the step because a rank failed, or scancel): raise
        `RankFailed` when a rank's failure is on record, so that rank 0 writes it as the job's
        result; else die of it, as without a handler (a cancelled job leaves no result)."""

        def on_term(signum: int, frame: Any) -> None:
            if self.first_failure() is not None:
                raise RankFailed("another rank of the job failed")
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_term)

    def gather(self, own: JobReturn, own_ended: float, own_exit: int) -> tuple[JobReturn, int]:
        """The job's result and exit status, once every rank has ended or one has failed:
        rank 0's own unless another rank failed first. A failed rank 0 does not wait (the
        others may wait for it forever, in a collective): its exit stops them."""
        while True:
            try:
                failure = self.first_failure()
                if own_exit or failure is not None or all(self.ended().values()):
                    break
                time.sleep(POLL)
            except RankFailed:
                continue  # told to stop: the failure is on record, read it
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # decided: nothing more to fold in
        if failure is None or (own_exit and own_ended <= failure[0]):
            return own, own_exit
        _, rank, summary = failure
        theirs = load_job_return(self.spool.rank_result_pickle(self.num, self.attempt, rank))
        return theirs, summary.exit_code


def end_rank(
    spool: SpoolDir,
    num: int,
    attempt: int,
    place: Place,
    job_return: JobReturn,
    *,
    started_at: float,
    output_dir: str | None,
    failed_exit: int,
) -> int:
    """Rank `place.rank` > 0 leaves its record (not its return value: rank 0's is the job's),
    and the run's `Ending` when it failed first; its exit status."""
    from hydra.core.utils import JobStatus

    if job_return.status == JobStatus.COMPLETED:
        job_return._return_value = None
    summary = write_result(
        spool.rank_result_pickle(num, attempt, place.rank),
        spool.rank_result_json(num, attempt, place.rank),
        job_return,
        started_at=started_at,
        ended_at=time.time(),
        output_dir=output_dir,
        failed_exit=failed_exit,
    )
    if summary.error:
        why = f"rank {place.rank} of {place.ranks} failed: {summary.error}"
        Ending(reason=why).write_first(spool.ending(num, attempt))
    return summary.exit_code
