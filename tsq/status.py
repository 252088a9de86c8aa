"""Bring the store up to date: one `ts -l` per socket plus the jobs' own files.

Only jobs not yet in a terminal state are looked at, so a refresh costs the same whether the store
holds a hundred finished jobs or a million. `decide` is the whole policy, pure and tested alone;
`refresh` gathers what it needs and writes the outcome in one transaction, through the transition
table, so concurrent refreshes agree and terminal states never change.
"""

from __future__ import annotations

import json
import signal as signals
import socket as socketlib
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from tsq.errors import SpecError, SpoolerError
from tsq.lease import held
from tsq.results import ResultSummary, read_summary
from tsq.spool import SpoolDir
from tsq.spooler import Spooler, server_id
from tsq.states import JobState
from tsq.store import INTENT_CANCEL, UPDATE_FIELDS, Job, JobUpdate, Store, Sweep
from tsq.submit import lease_part
from tsq.tslist import TsInfo, TsJob, exit_code_from_elevel


@dataclass(frozen=True)
class Observation:
    """Everything known about one active job at one moment."""

    ts_row: TsJob | None = None  # its row in `ts -l`, only if the label matches
    ts_info: TsInfo | None = None  # `ts -i`, asked only when the exit level is ambiguous
    server_alive: bool = True
    socket: str = ""
    result: ResultSummary | None = None
    result_problem: str | None = None  # a result file exists but cannot be used
    started: dict[str, Any] = field(default_factory=dict)  # the runner's `started` file
    runner_alive: bool = False  # the job's own process still runs (ts may have forgotten it)
    lease_held: bool = False  # a live command (launcher, retry, cancel) is working on the job
    server_id: str | None = None  # the identity of the ts server listening on the socket now


def signal_name(number: int) -> str:
    try:
        return signals.Signals(number).name
    except ValueError:
        return f"signal {number}"


CANCELLED_REASON = "cancelled with `tsq cancel`"


def _from_result(job: Job, result: ResultSummary) -> JobUpdate:
    return JobUpdate.of(
        job,
        JobState.COMPLETED if result.status == "completed" else JobState.FAILED,
        reason=result.error,
        exit_code=result.exit_code,
        started_at=result.started_at,
        ended_at=result.ended_at,
        output_dir=result.output_dir,
    )


def _finished_without_result(job: Job, obs: Observation) -> JobUpdate:
    assert obs.ts_row is not None
    info = obs.ts_info or TsInfo(exit_code=None, signal=None, state=None)
    code = info.exit_code
    if code is None and info.signal is None and obs.ts_row.elevel not in (None, -1):
        code = exit_code_from_elevel(obs.ts_row.elevel)
    if info.signal is not None:
        why = f"killed by {signal_name(info.signal)} before it wrote a result"
    elif code is not None:
        why = f"exited with code {code} without writing a result"
    else:
        why = "ended without writing a result"
    started_at = obs.started.get("started_at")
    real_time = obs.ts_row.real_time
    # When it ended, not when a refresh noticed: ts keeps the run time of finished jobs.
    ended_at = started_at + real_time if started_at and real_time is not None else time.time()
    return JobUpdate.of(
        job,
        JobState.FAILED,
        reason=why,
        exit_code=code,
        signal=info.signal,
        started_at=started_at,
        ended_at=ended_at,
        output_dir=obs.started.get("output_dir"),
    )


def decide(job: Job, obs: Observation) -> JobUpdate | None:
    """The state a job should have given what was observed; None to leave it as it is.

    A ts row found by label under another id (the launcher stopped before recording the id)
    also records that id and the server it is in. A job that names a lease nobody holds any
    more has its claim cleared, whatever else is decided.
    """
    update = _decide(job, obs)
    row = obs.ts_row
    if row is not None and row.id != job.ts_id:
        update = replace(
            update or JobUpdate.of(job, job.state),
            ts_id=row.id,
            server_id=job.server_id or obs.server_id,
        )
    if job.lease is not None and not obs.lease_held:
        update = replace(update or JobUpdate.of(job, job.state), release=True)
    return update


def _running(job: Job, obs: Observation) -> JobUpdate:
    return JobUpdate.of(
        job,
        JobState.RUNNING,
        started_at=obs.started.get("started_at"),
        output_dir=obs.started.get("output_dir"),
    )


def _decide(job: Job, obs: Observation) -> JobUpdate | None:
    """The policy. `lost` needs positive evidence: the server is gone or was replaced, or the
    job ran and ended without a result and ts forgot it. Nothing is decided from ts's silence
    while a live command (its lease held) is queueing or cancelling the job."""
    if obs.result_problem is not None:
        return JobUpdate.of(job, JobState.FAILED, reason=obs.result_problem)
    if obs.result is not None:
        return _from_result(job, obs.result)
    cancelling = job.intent == INTENT_CANCEL
    row = obs.ts_row
    if row is not None:
        if row.state == "finished":
            if cancelling and obs.lease_held:
                return None  # `tsq cancel` stopped it and is recording that
            killed = obs.ts_info is not None and obs.ts_info.signal == signals.SIGTERM
            if cancelling and killed:  # a cancel that stopped it, then died before recording
                return JobUpdate.of(job, JobState.CANCELLED, reason=CANCELLED_REASON)
            return _finished_without_result(job, obs)
        if row.state == "skipped":
            return JobUpdate.of(
                job, JobState.CANCELLED, reason="skipped by ts (a job it depended on failed)"
            )
        if row.state in ("running", "allocating") or obs.started:
            return _running(job, obs)
        return None
    if obs.runner_alive:
        return _running(job, obs)
    if obs.lease_held:
        return None
    if cancelling:  # a cancel took it out of ts, then died before recording that
        return JobUpdate.of(job, JobState.CANCELLED, reason=CANCELLED_REASON)
    if job.ts_id is None:
        why = "never queued in ts (the command queueing it stopped before it did)"
    elif not obs.server_alive:
        why = f"the ts server on {obs.socket} is gone and the job left no result"
    elif job.server_id is not None and obs.server_id not in (None, job.server_id):
        why = (
            f"the ts server on {obs.socket} was restarted since job {job.ts_id} was queued in "
            f"it, and the job left no result"
        )
    elif job.server_id is not None and obs.server_id == job.server_id and not obs.started:
        return JobUpdate.of(
            job,
            JobState.CANCELLED,
            reason=f"removed from task-spooler's queue before it started (ts job {job.ts_id})",
            ended_at=time.time(),
        )
    else:
        why = (
            f"ts no longer lists job {job.ts_id} (its server restarted or pruned its finished "
            f"list) and the job left no result"
        )
    return JobUpdate.of(job, JobState.LOST, reason=why)


def runner_alive(started: dict[str, Any], spool: SpoolDir, job: Job) -> bool:
    """Is this job attempt's own process still running? Its whole command line must be the
    one ts runs for it (`tsq.submit.runner_argv`): the pid alone may have been recycled, and
    a sibling job's runner shares the spec but not the job number or attempt."""
    pid = started.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    args = cmdline.split("\0")[1:-1]  # without the interpreter and the trailing NUL
    expected_tail = [str(job.num)] + ([str(job.attempt)] if job.attempt > 1 else [])
    return (
        len(args) >= 3
        and args[:2] == ["-m", "tsq.runner"]
        and Path(args[2]).parent == spool.root
        and args[3:] == expected_tail
    )


def _read_started(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class Refresh:
    """What a refresh changed, and what it could not find out (said on stderr by the CLI)."""

    changed: int = 0
    changed_sweeps: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def spooler_for(sweep: Sweep) -> Spooler:
    """The ts a sweep was queued in, as recorded (not detected again: that costs a `ts -V`)."""
    return Spooler(binary=sweep.ts_binary, socket=sweep.ts_socket, version="")


@dataclass(frozen=True)
class Listing:
    """One server's `ts -l`, asked once per refresh, with what identifies the server."""

    alive: bool
    rows: dict[int, TsJob]
    server_id: str | None = None

    @cached_property
    def by_label(self) -> dict[str, TsJob]:
        return {row.label: row for row in self.rows.values() if row.label is not None}


def listing(sweep: Sweep, warnings: list[str]) -> Listing | None:
    """The sweep's ts server as it is now; None when ts could not be asked (then nothing is
    decided from ts's silence). The server's identity is read after its list: if the server
    died between the probe and the list, the ts client started a new, empty one, and the jobs
    it does not list are judged as missing from a new server, which is what happened."""
    spooler = spooler_for(sweep)
    if not spooler.alive():
        return Listing(alive=False, rows={})
    try:
        rows = {row.id: row for row in spooler.list()}
    except SpoolerError as e:
        warnings.append(f"could not ask task-spooler ({e}); jobs on it left as they were")
        return None
    return Listing(alive=True, rows=rows, server_id=server_id(sweep.ts_socket))


def match_row(job: Job, queue: Listing) -> TsJob | None:
    """The job's row: ts ids restart at 0 with every new server, so an id only counts with the
    job's unique label; a job the launcher queued without recording the id is found by label."""
    row = queue.rows.get(job.ts_id) if job.ts_id is not None else None
    if row is not None and row.label == job.label:
        return row
    return queue.by_label.get(job.label)


def observe(job: Job, sweep: Sweep, queue: Listing) -> Observation:
    spool = sweep.spool
    row = match_row(job, queue)
    result: ResultSummary | None = None
    problem: str | None = None
    try:
        result = read_summary(spool.result_json(job.num, job.attempt))
    except SpecError as e:
        problem = str(e)
    started = _read_started(spool.started(job.num, job.attempt)) if result is None else {}
    info = None
    if row is not None and row.state == "finished" and result is None and row.elevel in (-1, None):
        info = _ts_info(sweep, row.id)
    local = sweep.hostname == socketlib.gethostname()
    return Observation(
        ts_row=row,
        ts_info=info,
        server_alive=queue.alive,
        socket=sweep.ts_socket,
        result=result,
        result_problem=problem,
        started=started,
        runner_alive=bool(started) and local and runner_alive(started, spool, job),
        # Another host's lease cannot be probed from here: never take it for dead.
        lease_held=job.lease is not None
        and (not local or held(spool.root, job.lease, lease_part(job))),
        server_id=queue.server_id,
    )


def _ts_info(sweep: Sweep, ts_id: int) -> TsInfo | None:
    try:
        return spooler_for(sweep).info(ts_id)
    except SpoolerError:
        return None


def _by_server(jobs: Iterable[Job]) -> dict[tuple[str, str], list[Job]]:
    groups: dict[tuple[str, str], list[Job]] = defaultdict(list)
    for job in jobs:
        groups[(job.sweep.ts_binary, job.sweep.ts_socket)].append(job)
    return groups


def refresh(store: Store, sweep_id: str | None = None) -> Refresh:
    """Reconcile every queued or running job (of one sweep, if given). ts is asked before the
    result files are read, so a job that ends in between is seen by its result, never mistaken
    for lost."""
    report = Refresh()
    updates: list[JobUpdate] = []
    for jobs in _by_server(store.active_jobs(sweep_id)).values():
        queue = listing(jobs[0].sweep, report.warnings)
        if queue is None:
            continue
        if not queue.alive:
            report.warnings.append(
                f"the ts server on {jobs[0].sweep.ts_socket} is not running; its jobs that "
                f"left no result are marked lost"
            )
        for job in jobs:
            update = decide(job, observe(job, job.sweep, queue))
            if update is not None and _changes(job, update):
                updates.append(update)
                report.changed_sweeps.add(job.sweep_id)
    if updates:
        report.changed = store.apply(updates)
    return report


def _changes(job: Job, update: JobUpdate) -> bool:
    return (
        update.state != job.state
        or update.release
        or any(
            getattr(update, name) is not None and getattr(job, name) != getattr(update, name)
            for name in UPDATE_FIELDS
        )
    )
