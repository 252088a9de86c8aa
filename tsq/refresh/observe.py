"""What a refresh sees of one active job: its row in its queue, its result and `started`
files in the spool dir, and, on the host that queued it, its process (`/proc`) and its lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tsq.backends import JobRef, Queue
from tsq.errors import SpecError
from tsq.files.commands import RunnerArgs, runner_argv
from tsq.files.ending import Ending, read_ending
from tsq.files.lease import held, lease_part
from tsq.files.results import ResultSummary, read_summary
from tsq.files.safeio import NotYours, private_exists
from tsq.files.spool import SpoolDir
from tsq.files.started import Started, read_started
from tsq.refresh.decide import Observation, QueueFacts
from tsq.refresh.reach import is_local
from tsq.store import Job


def runner_alive(started: Started, spool: SpoolDir, job: Job) -> bool:
    """Is this job attempt's own process still running? Its whole command line must be the
    one its queue runs for it (`tsq.files.commands.runner_argv`): the pid alone may have been
    recycled, and a sibling job's runner shares the spec but not the job number or attempt."""
    try:
        cmdline = Path(f"/proc/{started.pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    args = cmdline.split("\0")[1:-1]  # without the interpreter and the trailing NUL
    if args[:2] != runner_argv(Path("SPEC"), job.num)[1:3]:
        return False
    run = RunnerArgs.parse(args[2:])
    return (
        run is not None
        and run.spec.parent == spool.root
        and (run.num, run.attempt) == (job.num, job.attempt)
    )


@dataclass(frozen=True)
class RunFiles:
    """What one attempt's run left in the spool dir: its result, or why that cannot be used,
    and its `started` record (read only when there is no result)."""

    result: ResultSummary | None = None
    result_problem: str | None = None
    started: Started | None = None
    began: bool = False  # its queue ran its command (`SpoolDir.began`), read without a result
    ending: Ending | None = None  # why the runner says it ended without a result

    @classmethod
    def read(cls, spool: SpoolDir, num: int, attempt: int) -> RunFiles:
        """NotYours when a file there is another user's: it cannot stand for the job's own,
        nor can its absence be trusted (it stands in their place), so nothing is decided."""
        try:
            result = read_summary(spool.result_json(num, attempt))
        except NotYours:
            raise
        except SpecError as e:
            return cls(result_problem=str(e))
        if result is not None:
            return cls(result=result)
        began = private_exists(spool.began(num, attempt))
        try:
            ending = read_ending(spool.ending(num, attempt))
        except NotYours:
            raise
        except SpecError:  # a damaged note counts as none: the queue says how it ended
            ending = None
        try:
            started = read_started(spool.started(num, attempt))
        except NotYours:
            raise
        except SpecError:  # a damaged record counts as none: the result decides
            started = None
        return cls(started=started, began=began, ending=ending)


def observe(job: Job, queue: Queue | None) -> Observation:
    """What is known of `job` now: its row in `queue`, its result and `started` files, and,
    on the host that queued it, its process and its lease. Pass no queue for a job whose queue
    this host cannot ask (`Reach`): its files are all this host can see of it."""
    spool = job.sweep.spool
    local = is_local(job)
    row = queue.find(JobRef.of(job)) if queue is not None else None
    files = RunFiles.read(spool, job.num, job.attempt)
    started = files.started
    if row is not None and row.ambiguous and files.result is None:
        row = queue.explain(row)  # type: ignore[union-attr]
    return Observation(
        queue=QueueFacts.of(queue) if queue is not None else None,
        row=row,
        result=files.result,
        result_problem=files.result_problem,
        started=started,
        began=files.began,
        ending=files.ending,
        runner_alive=started is not None and local and runner_alive(started, spool, job),
        # Another host's lease cannot be probed from here: never take it for dead.
        lease_held=job.lease is not None
        and (not local or held(spool.root, job.lease, lease_part(job.num, job.attempt))),
    )
