"""Retries by cause: `hydra.launcher.retry` queues a job again when it ends for a cause it names
(lost, killed by a signal, Slurm's timeout...), whoever refreshes first, or the sweep's watcher
when nobody does; `tsq retry --cause` does the same by hand. A task's own failure is retried
only for the exit codes asked for."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
from pathlib import Path

from eventually import eventually
from procs import ending_with
from sweeps import Sandbox, by_num, notified, notify_with


def _dies(sandbox: Sandbox, *overrides: str) -> Path:
    """Launch `tests/apps/dies.py`; its flags dir (each attempt leaves a file there)."""
    flags = sandbox.root / "flags"
    sandbox.sweep(f"+flags={flags}", *overrides, script="dies.py")
    return flags


def _spool(sandbox: Sandbox) -> Path:
    (spool,) = (sandbox.root / "multirun").glob("*/.tsq/*")
    return spool


def _attempts(sandbox: Sandbox, sweep: str) -> dict[int, list[tuple[int, str, str | None]]]:
    """Each job's attempts, earlier ones first: (attempt, state, cause), from `status`."""
    shown = json.loads(sandbox.tsq("status", sweep, "--attempts", "--json").stdout)
    return {
        job["num"]: [(a["attempt"], a["state"], a["cause"]) for a in job["attempts"]]
        + [(job["attempt"], job["state"], job["cause"])]
        for job in shown
    }


def _recorded(sandbox: Sandbox) -> dict[int, tuple[int, str]]:
    """Each job's (attempt, state) as the store holds it, read without a refresh."""
    with sqlite3.connect(sandbox.store) as db:
        return {num: (attempt, state) for num, attempt, state in
                db.execute("SELECT num, attempt, state FROM jobs")}  # fmt: skip


def test_a_killed_job_is_retried_by_the_refresh_that_sees_it_end_a_raising_task_is_not(
    sandbox: Sandbox,
) -> None:
    """The watcher is stopped before any job runs: the refresh of the command that sees the
    job killed queues it again, at once. The task that raised stays failed."""
    blocker = sandbox.block_queue()
    _dies(sandbox, "+how=kill,raise", "hydra.launcher.retry.causes=[signal]")
    watcher = json.loads((_spool(sandbox) / "notify.json").read_text())["pid"]
    os.kill(watcher, signal.SIGKILL)
    eventually(lambda: sandbox.tsq("status").stdout, "status to show the watcher lost",
               until=lambda shown: "retry: LOST: its watcher" in shown)  # fmt: skip
    sandbox.release(blocker)
    jobs = by_num(sandbox.wait_terminal())
    sweep = jobs[0]["sweep"]
    assert _attempts(sandbox, sweep) == {
        0: [(1, "failed", "signal"), (2, "completed", None)],
        1: [(1, "failed", None)],
    }
    assert jobs[1]["reason"] == "RuntimeError: attempt 1 fails"
    table = sandbox.tsq("status", sweep, "--attempts").stdout
    assert "killed by SIGKILL before it wrote a result" in table, table
    collected = sandbox.tsq("collect", "--json", sweep, check=False)  # exits 1: a job failed
    value = json.loads(collected.stdout)[0]["return_value"]
    assert value == {"num": 0, "attempt": 2}


def test_exit_codes_are_retried_when_asked_and_max_bounds_the_attempts(sandbox: Sandbox) -> None:
    """`exit_codes: [3]` retries a task's own `sys.exit(3)`; a job that goes on failing gets
    `max` retries (3 attempts), then stays failed."""
    _dies(sandbox, "+how=kill,exit", "+fails=1,5", "hydra.launcher.retry.causes=[signal]",
          "hydra.launcher.retry.exit_codes=[3]", "hydra.launcher.retry.max=2")  # fmt: skip
    sandbox.wait_terminal()
    sweep = sandbox.status()[0]["sweep"]
    ended = {num: attempts[-1][:2] for num, attempts in _attempts(sandbox, sweep).items()}
    # Jobs: kill once, kill always, exit 3 once, exit 3 always.
    assert ended == {0: (2, "completed"), 1: (3, "failed"), 2: (2, "completed"), 3: (3, "failed")}
    assert [cause for _, _, cause in _attempts(sandbox, sweep)[1]] == ["signal"] * 3
    shown = json.loads(sandbox.tsq("status", sweep, "--attempts", "--json").stdout)
    assert [a["exit_code"] for a in by_num(shown)[3]["attempts"]] == [3, 3]


def _lose(sandbox: Sandbox, flags: Path) -> None:
    """The ts server dies, as in a reboot, with job 0's task running: it and its runner are
    gone."""
    runner = sandbox.started(0)["pid"]
    eventually(lambda: (flags / "0" / "1").exists(), "job 0's task to run")
    sandbox.kill_server()
    # The fork's `-K` may have taken the running job with it already.
    with contextlib.suppress(ProcessLookupError):
        os.kill(runner, signal.SIGKILL)


def test_a_lost_job_is_retried_in_the_restarted_queue(sandbox: Sandbox) -> None:
    """The ts server dies with the job running: lost; queued again, it completes."""
    flags = _dies(sandbox, "+how=hold", "hydra.launcher.retry.causes=[lost]")
    _lose(sandbox, flags)
    sandbox.wait_terminal()
    sweep = sandbox.status()[0]["sweep"]
    assert _attempts(sandbox, sweep) == {0: [(1, "lost", "lost"), (2, "completed", None)]}


def test_a_sweep_left_alone_is_retried_by_its_watcher(sandbox: Sandbox) -> None:
    """No notify and no command after the launch: the watcher the retry policy started queues
    the job again twice; the test only looks at files until the watcher has ended."""
    flags = _dies(sandbox, "+how=kill", "+fails=2", "hydra.launcher.retry.causes=[signal]")
    spool = _spool(sandbox)
    eventually(lambda: (spool / "jobs" / "0.3.json").exists(), "attempt 3's result", timeout=120)
    eventually(lambda: ending_with(str(spool)), "the watcher to end", until=lambda pids: not pids)
    assert sorted(p.name for p in (flags / "0").iterdir()) == ["1", "2", "3"]
    assert _recorded(sandbox) == {0: (3, "completed")}
    assert json.loads((spool / "notify.json").read_text())["state"] == "done"
    assert "retry:" not in sandbox.tsq("status").stdout, "nothing left to say once done"


def test_notify_runs_once_after_the_last_retry(sandbox: Sandbox) -> None:
    out = sandbox.root / "notified.jsonl"
    _dies(sandbox, "+how=kill", "+fails=2", "hydra.launcher.retry.causes=[signal]",
          notify_with(out))  # fmt: skip
    (line,) = notified(out, timeout=120)
    assert (line["env"]["TSQ_COMPLETED"], line["env"]["TSQ_FAILED"]) == ("1", "0")
    assert _recorded(sandbox) == {0: (3, "completed")}
    eventually(lambda: ending_with(str(_spool(sandbox))), "the watcher to end",
               until=lambda pids: not pids)  # fmt: skip
    assert len(notified(out)) == 1


def test_retry_by_cause_by_hand(sandbox: Sandbox) -> None:
    """Without a policy nothing is retried; `tsq retry --cause` picks the jobs by why they
    ended: the lost one, then the killed one."""
    flags = _dies(sandbox, "+how=hold,kill")
    eventually(lambda: by_num(sandbox.status())[1]["state"], "job 1 to be killed",
               until=lambda state: state == "failed")  # fmt: skip
    _lose(sandbox, flags)
    jobs = by_num(sandbox.wait_terminal())
    sweep = jobs[0]["sweep"]
    assert [(jobs[n]["state"], jobs[n]["cause"]) for n in (0, 1)] == [
        ("lost", "lost"), ("failed", "signal")]  # fmt: skip
    bad = sandbox.tsq("retry", sweep, "--cause", "lost,oom", check=False)
    assert bad.returncode == 2 and "'lost,oom': the causes are lost, signal, timeout" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert sandbox.tsq("retry", sweep, "--cause", "timeout").stdout.strip() == (
        f"sweep {sweep}: nothing to retry"
    )
    assert "queued 1 job again (0)" in sandbox.tsq("retry", sweep, "--cause", "lost").stdout
    jobs = by_num(sandbox.wait_terminal())
    assert [(jobs[n]["state"], jobs[n]["attempt"]) for n in (0, 1)] == [
        ("completed", 2), ("failed", 1)]  # fmt: skip
    assert "queued 1 job again (1)" in sandbox.tsq("retry", sweep, "--cause", "signal").stdout
    jobs = by_num(sandbox.wait_terminal())
    assert [(jobs[n]["state"], jobs[n]["attempt"]) for n in (0, 1)] == [
        ("completed", 2), ("completed", 2)]  # fmt: skip
