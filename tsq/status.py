"""Bring the store up to date: one `ts -l` per socket plus the jobs' own files.

Only jobs not yet in a terminal state are looked at, so a refresh costs the same whether the store
holds a hundred finished jobs or a million. `decide` is the whole policy, pure and tested alone;
`refresh` gathers what it needs and writes the outcome in one transaction, through the transition
table, so concurrent refreshes agree and terminal states never change.
"""

from __future__ import annotations

import json
import os
import signal as signals
import socket as socketlib
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tsq.errors import SpecError, SpoolerError
from tsq.results import ResultSummary, read_summary
from tsq.spool import SpoolDir
from tsq.spooler import Spooler
from tsq.states import JobState
from tsq.store import Job, JobUpdate, Store, Sweep
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
    launcher_alive: bool = False  # the launcher that records it may still be queueing it


def signal_name(number: int) -> str:
    try:
        return signals.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _from_result(job: Job, result: ResultSummary) -> JobUpdate:
    return JobUpdate(
        job.id,
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
    return JobUpdate(
        job.id,
        JobState.FAILED,
        reason=why,
        exit_code=code,
        signal=info.signal,
        ended_at=time.time(),
    )


def decide(job: Job, obs: Observation) -> JobUpdate | None:
    """The state a job should have given what was observed; None to leave it as it is.

    A ts row found by label under another id (the launcher stopped before recording the id)
    also records that id.
    """
    update = _decide(job, obs)
    row = obs.ts_row
    if row is not None and row.id != job.ts_id:
        return replace(update or JobUpdate(job.id, job.job_state), ts_id=row.id)
    return update


def _decide(job: Job, obs: Observation) -> JobUpdate | None:
    if obs.result_problem is not None:
        return JobUpdate(job.id, JobState.FAILED, reason=obs.result_problem)
    if obs.result is not None:
        return _from_result(job, obs.result)
    row = obs.ts_row
    if row is not None:
        if row.state == "finished":
            return _finished_without_result(job, obs)
        if row.state == "skipped":
            return JobUpdate(
                job.id, JobState.CANCELLED, reason="skipped by ts (a job it depended on failed)"
            )
        if row.state in ("running", "allocating") or obs.started:
            return JobUpdate(
                job.id,
                JobState.RUNNING,
                started_at=obs.started.get("started_at"),
                output_dir=obs.started.get("output_dir"),
            )
        return None
    if obs.runner_alive:
        return JobUpdate(
            job.id,
            JobState.RUNNING,
            started_at=obs.started.get("started_at"),
            output_dir=obs.started.get("output_dir"),
        )
    if job.ts_id is None:
        if obs.launcher_alive:
            return None
        why = "never queued in ts (the launcher stopped before queueing it)"
    elif not obs.server_alive:
        why = f"the ts server on {obs.socket} is gone and the job left no result"
    else:
        why = (
            f"ts no longer lists job {job.ts_id} (its server restarted or pruned its finished "
            f"list) and the job left no result"
        )
    return JobUpdate(job.id, JobState.LOST, reason=why)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _runner_alive(started: dict[str, Any], spec_dir: str) -> bool:
    """Is the job's own process still running? Checks the command line, not just the pid, so a
    recycled pid is not taken for the job."""
    pid = started.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"tsq.runner" in cmdline and any(spec_dir.encode() in arg for arg in cmdline)


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


def _ts_rows(sweep: Sweep, report: Refresh) -> tuple[bool, dict[int, TsJob] | None]:
    """(server alive, rows by id); rows None when ts could not be asked (then nothing is decided
    from ts's silence)."""
    spooler = spooler_for(sweep)
    if not spooler.alive():
        return False, {}
    try:
        return True, {row.id: row for row in spooler.list()}
    except SpoolerError as e:
        report.warnings.append(f"could not ask task-spooler ({e}); jobs on it left as they were")
        return True, None


def match_row(job: Job, rows: dict[int, TsJob]) -> TsJob | None:
    """The job's row: ts ids restart at 0 with every new server, so an id only counts with the
    job's unique label; a job the launcher queued without recording the id is found by label."""
    row = rows.get(job.ts_id) if job.ts_id is not None else None
    if row is not None and row.label == job.label:
        return row
    return next((r for r in rows.values() if r.label == job.label), None)


def observe(job: Job, sweep: Sweep, alive: bool, rows: dict[int, TsJob]) -> Observation:
    spool = SpoolDir(Path(sweep.spool_dir))
    row = match_row(job, rows)
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
        server_alive=alive,
        socket=sweep.ts_socket,
        result=result,
        result_problem=problem,
        started=started,
        runner_alive=bool(started) and local and _runner_alive(started, str(spool.root)),
        launcher_alive=local and _pid_alive(sweep.launcher_pid),
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
        alive, rows = _ts_rows(jobs[0].sweep, report)
        if rows is None:
            continue
        if not alive:
            report.warnings.append(
                f"the ts server on {jobs[0].sweep.ts_socket} is not running; its jobs that "
                f"left no result are marked lost"
            )
        for job in jobs:
            update = decide(job, observe(job, job.sweep, alive, rows))
            if update is not None and _changes(job, update):
                updates.append(update)
                report.changed_sweeps.add(job.sweep_id)
    if updates:
        report.changed = store.apply(updates)
    return report


def _changes(job: Job, update: JobUpdate) -> bool:
    return update.state.value != job.state or any(
        getattr(update, f.name) is not None and getattr(job, f.name) != getattr(update, f.name)
        for f in fields(update)
        if f.name not in ("job_id", "state")
    )
