"""`hydra.launcher.notify=CMD`: run a command once every job of a sweep has ended; and the
sweep's watcher, which also queues jobs again by cause (`hydra.launcher.retry`) while nothing
else runs.

Why a detached watcher and not a queued job: Debian's task-spooler runs a job that depends on
another (`-D`) only if that one ended well, and on one job only; a job that waits for the others
by polling (as `tsq.job.barrier` does for `depends_on`) holds a queue slot the whole time the sweep
runs. So the launcher starts this watcher in its own session (it survives the launching shell,
as the queued jobs do) and it takes no slot at all: every few seconds it brings the store up to
date exactly as `tsq status` would (`tsq.refresh.update.refresh`), and once every job of the
sweep has ended (however: completed, failed, lost, cancelled) and the launching process is gone (a
sweeper that launches several batches may add more jobs), it runs CMD through the shell, once.

The same watcher runs, without a command, for a sweep whose launch asked for retries by cause
and no notify: a sweep left alone overnight still has its lost or killed jobs queued again. At
each look it queues again the ended jobs that the launch's retry policy asks for
(`tsq.ops.retry.retry_ended`; a refresh that saw them end may have done so already), and it
takes the sweep for ended only once no job is left to retry: the command runs once, after the
last retry.

Nothing is lost silently: the watcher's record, `<spool>/notify.json`, says whether it waits,
runs the command, ran it well or not (exit code and the last lines of its output; the whole output
is in `notify.log` beside it, after a line each time what the watcher waits for changes: "waiting
for 3 of 8 jobs to end"), and `tsq status` shows it. A watcher that died without running the
command (a reboot, a kill) is seen as such: its record still says `waiting` but its process is
gone.

The command's environment: the launching shell's, plus TSQ_SWEEP (the sweep id), TSQ_SWEEP_DIR,
TSQ_STORE, TSQ_JOBS, TSQ_COUNTS ("3 completed, 1 failed") and one TSQ_<STATE> per terminal state
(TSQ_COMPLETED, TSQ_FAILED, TSQ_CANCELLED, TSQ_LOST), 0 when none.

    python -m tsq.notify SPOOL_DIR     (started by the launcher; the store comes in $TSQ_STORE)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsq.files.commands import NOTIFY
from tsq.files.safeio import NotYours, read_private, write_atomic
from tsq.files.spool import SpoolDir
from tsq.hosts import this_host
from tsq.launch.detach import start_watcher
from tsq.states import JobState

if TYPE_CHECKING:
    from tsq.store import Sweep

POLL_FIRST, POLL_MAX = 1.0, 10.0
TIMEOUT = 3600.0  # a command still running after an hour is stopped and recorded as failed
TAIL = 2000
STORE_RETRIES = 30  # consecutive failures to open or refresh the store before giving up

WAITING, RUNNING, DONE, FAILED = "waiting", "running", "done", "failed"


def read_record(spool_root: Path) -> dict[str, Any] | None:
    """The watcher's record; None when there is none or it is damaged. NotYours when it is not
    this user's own file: it names the command the watcher runs."""
    try:
        record = json.loads(read_private(SpoolDir(spool_root).notify_record))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _write(spool_root: Path, record: dict[str, Any]) -> None:
    write_atomic(SpoolDir(spool_root).notify_record, json.dumps(record, indent=1).encode())


def start(spool_root: Path, sweep_id: str, command: str | None, store: str) -> int:
    """Start the watcher for a sweep, detached; its pid. Called once per sweep, by the launcher,
    once the first batch is queued; `command` None when it is started only to retry."""
    record = {"command": command, "sweep": sweep_id, "state": WAITING, "pid": None}
    _write(spool_root, record)
    pid = start_watcher(NOTIFY, spool_root, SpoolDir(spool_root).notify_log, store)
    record.update(pid=pid, host=this_host())
    _write(spool_root, record)
    return pid


def state_counts(states: list[JobState]) -> dict[str, str]:
    """The command's TSQ_* counts."""
    from tsq.render.views import counted

    by_state = Counter(states)
    env = {f"TSQ_{s.name}": str(by_state[s]) for s in JobState if s.terminal}
    return {**env, "TSQ_JOBS": str(len(states)), "TSQ_COUNTS": counted(states)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def describe(record: dict[str, Any] | None, spool_root: Path) -> str | None:
    """`tsq status`'s line about a sweep's notifier; None when it has none."""
    if record is None:
        return None
    command = record.get("command", "?")
    state = record.get("state")
    if command is None:  # a watcher that only retries (`hydra.launcher.retry`)
        return _describe_retrier(record, spool_root)
    if state == DONE:
        when = time.strftime("%H:%M:%S", time.localtime(record.get("ended_at", 0)))
        return f"notify: ran {command!r} at {when} (exit 0)"
    if state == FAILED:
        output = (record.get("output") or "").strip().splitlines()
        last = f": {output[-1]}" if output else ""
        return (
            f"notify: FAILED: {command!r} {record.get('reason', 'failed')}{last} "
            f"(output: {SpoolDir(spool_root).notify_log})"
        )
    pid = record.get("pid")
    here = record.get("host") in (None, this_host())
    if pid is not None and here and not _alive(pid):
        return (
            f"notify: LOST: its watcher (pid {pid}) ended without running {command!r} "
            f"(see {SpoolDir(spool_root).notify_log})"
        )
    if state == RUNNING:
        return f"notify: running {command!r}"
    return f"notify: {command!r} waits for the sweep to end (watcher pid {pid})"


def _describe_retrier(record: dict[str, Any], spool_root: Path) -> str | None:
    """`tsq status`'s line about a watcher started only to retry jobs by cause; None once it
    is done (every job ended with nothing left to retry)."""
    pid = record.get("pid")
    if record.get("state") != WAITING:
        return None
    if pid is not None and record.get("host") in (None, this_host()) and not _alive(pid):
        return (
            f"retry: LOST: its watcher (pid {pid}) ended before the sweep did (see "
            f"{SpoolDir(spool_root).notify_log}); `tsq status` still retries the jobs it sees end"
        )
    return f"retry: watcher pid {pid} queues jobs again as they end for the causes asked"


def _launcher_gone(sweep: Sweep) -> bool:
    """Has the launching process ended (a sweeper may still add batches)? One on another host
    cannot be probed from here: taken for gone."""
    if sweep.hostname != this_host():
        return True
    return not _alive(sweep.launcher_pid)


def wait_for_end(spool_root: Path, sweep_id: str) -> tuple[Sweep, list[JobState]] | None:
    """Refresh the store until every job of the sweep has ended; the sweep and the jobs'
    states, or None if the sweep was forgotten meanwhile."""
    from tsq.errors import SweepNotFound, TsqError
    from tsq.ops.retry import retry_ended
    from tsq.refresh.update import refresh
    from tsq.store import LONG_PATIENCE_S, Store

    delay, failures, said = POLL_FIRST, 0, ""
    store: Store | None = None
    while True:
        try:
            if store is None:
                store = Store.open(os.environ.get("TSQ_STORE"), patience=LONG_PATIENCE_S)
            refresh(store, sweep_id)
            sweep = store.find_sweep(sweep_id)
            jobs = store.jobs([sweep_id], history=True)
            unretried: list[str] = []
            renewed = retry_ended(store, [job for job in jobs if job.state.terminal], unretried)
            failures = 0
        except SweepNotFound:
            return None
        except TsqError as e:
            failures += 1
            if failures >= STORE_RETRIES:
                raise
            print(f"tsq.notify: {e}; trying again", flush=True)
        else:
            for line in unretried:  # tried again at the next look
                print(f"tsq.notify: {line}", flush=True)
            left = sum(not job.state.terminal for job in jobs) + len(renewed)
            launch_done = _launcher_gone(sweep)
            if jobs and not left and not unretried and launch_done:
                store.close()
                return sweep, [job.state for job in jobs]
            waiting = f"{left} of {len(jobs)} jobs to end" + (
                "" if launch_done else f", and the launching process (pid {sweep.launcher_pid})"
            )
            if unretried:
                waiting += ", and the retries that could not be queued yet"
            if waiting != said:  # the log says what it waits for, once per change
                print(f"tsq.notify: waiting for {waiting}", flush=True)
                said = waiting
        time.sleep(delay)
        delay = min(delay * 1.5, POLL_MAX)


def run(spool_root: Path) -> int:
    try:
        record = read_record(spool_root) or {}
    except NotYours as e:
        print(f"tsq.notify: {e}; nothing was run", file=sys.stderr)
        return 2
    command, sweep_id = record.get("command"), record.get("sweep")
    if not sweep_id or "command" not in record or command == "":
        print(f"tsq.notify: no usable {SpoolDir(spool_root).notify_record}", file=sys.stderr)
        return 2
    try:
        ended = wait_for_end(spool_root, sweep_id)
    except Exception as e:  # recorded, never silent: the store could not be read for good
        record.update(state=FAILED, reason=f"was never run: {e}", ended_at=time.time())
        _write(spool_root, record)
        raise
    if ended is None:
        record.update(state=FAILED, reason="was not run: the sweep was forgotten")
        _write(spool_root, record)
        return 1
    sweep, states = ended
    counts = state_counts(states)
    if command is None:  # started only to retry: nothing to run
        record.update(state=DONE, counts=counts["TSQ_COUNTS"], ended_at=time.time())
        _write(spool_root, record)
        print(f"tsq.notify: sweep {sweep_id} ended ({counts['TSQ_COUNTS']})", flush=True)
        return 0
    env = {
        **os.environ,
        **counts,
        "TSQ_SWEEP": sweep_id,
        "TSQ_SWEEP_DIR": sweep.sweep_dir,
        "TSQ_STORE": os.environ.get("TSQ_STORE", ""),
    }
    record.update(state=RUNNING, started_at=time.time(), counts=counts["TSQ_COUNTS"])
    _write(spool_root, record)
    print(f"tsq.notify: sweep {sweep_id} ended ({counts['TSQ_COUNTS']}): {command}", flush=True)
    try:
        proc = subprocess.run(
            command,
            shell=True,
            env=env,
            cwd=sweep.cwd if Path(sweep.cwd).is_dir() else None,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TIMEOUT,
        )
        output = (proc.stdout + proc.stderr).decode(errors="replace")
        code: int | None = proc.returncode
        reason = f"exited {code}" if code >= 0 else f"was killed by signal {-code}"
    except subprocess.TimeoutExpired as e:
        output = ((e.stdout or b"") + (e.stderr or b"")).decode(errors="replace")
        code, reason = None, f"ran over {TIMEOUT:g}s and was stopped"
    sys.stdout.write(output)
    record.update(
        state=DONE if code == 0 else FAILED,
        exit_code=code,
        reason=reason,
        output=output[-TAIL:],
        ended_at=time.time(),
    )
    _write(spool_root, record)
    return 0 if code == 0 else 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tsq.notify SPOOL_DIR  (started by tsq)", file=sys.stderr)
        return 2
    return run(Path(args[0]))
