"""`tsq logs`: a job's output, also after ts has forgotten the job.

The job's runner records where its output goes as soon as it runs (`<num>.started.json` in the
sweep's spool dir): the file ts captures its stdout and stderr in, then, once Hydra's job starts,
its job log. A failed task's traceback is in neither (Hydra's `run_job` catches the exception):
it comes from the job's result summary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from tsq.backends import backend_for
from tsq.errors import SpecError, TsqError
from tsq.files.results import FAILED, read_summary
from tsq.files.started import read_started
from tsq.ops.wait import FIRST_DELAY, next_delay
from tsq.refresh.reach import is_local
from tsq.refresh.update import refresh
from tsq.store import Job, Store, Sweep

FOLLOW_POLL = 0.5


def output_files(sweep: Sweep, job: Job) -> list[tuple[str, Path]]:
    """(what, path) of the job's output files, in the order to show them (every rank's, for a
    multi-task job); none before it runs."""
    started = read_started(sweep.spool.started(job.num, job.attempt))
    if started is None:
        return []
    files = started.output_files()
    for rank in range(1, started.ranks):
        try:
            other = read_started(sweep.spool.rank_started(job.num, job.attempt, rank))
        except SpecError:
            other = None  # a damaged record: rank 0's files still show
        files += other.output_files() if other is not None else []
    return files


def _own_output(sweep: Sweep, job: Job, path: Path, text: str) -> str:
    """The job's own output in `text` read from `path`: what its queue wrote into the file it
    captures the output in (the GPU fork's header) taken out; other files as they are."""
    started = read_started(sweep.spool.started(job.num, job.attempt))
    if started is None or started.stdout is None or Path(started.stdout) != path:
        return text
    return backend_for(sweep).job_output(text)


def failure(sweep: Sweep, job: Job) -> tuple[Path, str] | None:
    """(result file, traceback) of a failed job; its one-line error when it has no traceback,
    or why the file cannot be read. None while the job has no result, or when it completed."""
    path = sweep.spool.result_json(job.num, job.attempt)
    try:
        summary = read_summary(path)
    except SpecError as e:
        return path, f"({e})\n"
    if summary is None or summary.status != FAILED:
        return None
    return path, summary.traceback or f"{summary.error}\n"


def _no_output(sweep: Sweep, job: Job) -> str:
    ref = f"{sweep.id}:{job.num}"
    if not job.state.terminal:
        return f"job {ref} has not started yet ({job.state}); no output so far"
    why = f"{job.state}: {job.reason}" if job.reason else job.state
    return f"job {ref} recorded no output: it ended ({why}) before its runner started"


def _section(out: TextIO, what: str, path: Path, text: str) -> None:
    out.write(f"==> {what}: {path} <==\n{text}")
    out.flush()


def _elsewhere(job: Job) -> str:
    """Why a file of another host's job may not be readable here ("" for this host's jobs):
    files outside the shared sweep dir, such as ts's output in that host's /tmp, are on its
    own disk."""
    if is_local(job):
        return ""
    return f"; the job ran on host {job.queued_on}: `tsq logs {job.sweep_id}:{job.num}` there"


def _read(path: Path, job: Job) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as e:
        return f"(cannot read it: {e.strerror}{_elsewhere(job)})\n"


def _show_failure(sweep: Sweep, job: Job, out: TextIO) -> bool:
    """Print the traceback of the job's failure; False when there is none to print."""
    failed = failure(sweep, job)
    if failed is not None:
        _section(out, "traceback (from the job's result)", *failed)
    return failed is not None


def show(sweep: Sweep, job: Job, out: TextIO) -> None:
    """The job's output files, then the traceback of its failure, if it failed."""
    files = output_files(sweep, job)
    for what, path in files:
        _section(out, what, path, _own_output(sweep, job, path, _read(path, job)))
    if not _show_failure(sweep, job, out) and not files:
        raise TsqError(_no_output(sweep, job))


def _current(store: Store, sweep: Sweep, num: int) -> Job:
    """The job's record as it is now; a one-line error if the sweep was forgotten meanwhile."""
    found = [j for j in store.jobs([sweep.id]) if j.num == num]
    if not found:
        raise TsqError(f"sweep {sweep.id} was forgotten (tsq forget) while following job {num}")
    return found[0]


def _has_begun(sweep: Sweep, job: Job) -> bool:
    return job.state.terminal or bool(output_files(sweep, job))


def _await_start(store: Store, sweep: Sweep, job: Job, err: TextIO) -> Job:
    """Block until the job has recorded its output files or ended; polls the refresh as
    `tsq wait` does, with the same back-off, so a long queue costs next to no CPU."""
    if _has_begun(sweep, job):
        return job
    err.write(f"tsq: job {sweep.id}:{job.num} is {job.state}; waiting for it to start\n")
    err.flush()
    delay = FIRST_DELAY
    while not _has_begun(sweep, job):
        time.sleep(delay)
        delay = next_delay(delay, bool(refresh(store, sweep.id).changed))
        job = _current(store, sweep, job.num)
    return job


def follow(store: Store, sweep: Sweep, job: Job, out: TextIO, err: TextIO) -> None:
    """`logs -f`: wait for a queued job to start, print its output as it grows until the job
    ends, then the traceback of its failure, if it failed."""
    job = _await_start(store, sweep, job, err)
    files = output_files(sweep, job)
    if not files:
        show(sweep, job, out)  # ended before it ran: its error, or one line saying so
        return
    what, path = files[0]
    if not path.is_file():
        raise TsqError(f"cannot follow {path}: it does not exist here{_elsewhere(job)}")
    out.write(f"==> {what}: {path} <==\n")

    def ended() -> bool:
        refresh(store, sweep.id)
        return _current(store, sweep, job.num).state.terminal

    tail(path, ended, out, lambda text: _own_output(sweep, job, path, text))
    _show_failure(sweep, job, out)


def tail(
    path: Path,
    ended: Callable[[], bool],
    out: TextIO,
    own: Callable[[str], str] = lambda text: text,
) -> None:
    """Print what is appended to `path` until `ended()` says the job is over, then the rest.
    `own` takes what the queue adds out of the file's first read: the job runs (and tells
    where its output goes) only after its queue wrote that."""
    with open(path, errors="replace") as f:
        chunk = own(f.read())
        while True:
            if chunk:
                out.write(chunk)
                out.flush()
            elif ended():
                out.write(f.read())
                return
            else:
                time.sleep(FOLLOW_POLL)
            chunk = f.read()
