"""Concurrent commands never lie: retry, cancel, forget and refresh against each other.

Real processes throughout: status loops (tests/poller.py) run while retry and cancel work on
the same sweep, commands are killed half-way, and launchers run in their own pid namespace.
Each test ends with every record equal to the truth: the result files and ts's own list.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventually import eventually
from sweeps import Sandbox, by_num

from tsq.backends.tslist import parse_list, parse_tab
from tsq.files.spool import SpoolDir
from tsq.files.started import Started
from tsq.refresh.observe import runner_alive
from tsq.store import Job

POLLER = Path(__file__).parents[1] / "poller.py"
N = 30


class Pollers:
    """`tsq status` in loops, as `watch tsq status` in other terminals would run it."""

    def __init__(self, sandbox: Sandbox, count: int = 3, pause: float = 0.05) -> None:
        self.stop = sandbox.root / f"stop-{time.monotonic_ns()}"
        self.procs = [
            subprocess.Popen(
                [sys.executable, str(POLLER), str(self.stop), "status", "--json", "--all"],
                env={**sandbox.env, "POLLER_PAUSE": str(pause)},
                stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
            )
            for _ in range(count)
        ]  # fmt: skip

    def finish(self) -> None:
        self.stop.touch()
        reports = [json.loads(p.communicate(timeout=120)[0]) for p in self.procs]
        assert [r["failures"] for r in reports] == [[]] * len(reports)
        assert all(r["runs"] > 0 for r in reports)


@pytest.fixture
def pollers(sandbox: Sandbox) -> Iterator[Pollers]:
    loops = Pollers(sandbox)
    yield loops
    loops.stop.touch()
    for proc in loops.procs:
        proc.wait(timeout=120)


def _launch(sandbox: Sandbox, script: str, *overrides: str, name: str = "s") -> str:
    sandbox.run([sys.executable, script, "-m", "hydra/launcher=ts",
                 f"hydra.sweep.dir={sandbox.root}/multirun/{name}", *overrides])  # fmt: skip
    return next(iter({j["sweep"] for j in sandbox.status()}))


def _failed_sweep(sandbox: Sandbox) -> str:
    """A sweep of N jobs that all failed their first attempt (and complete the next)."""
    sweep = _launch(sandbox, "flaky.py", f"+x=range(0,{N})", f"+flags={sandbox.root}/flags")
    jobs = sandbox.wait_terminal(timeout=300)
    assert {j["state"] for j in jobs} == {"failed"} and len(jobs) == N
    return sweep


def _ts_rows(sandbox: Sandbox, sweep: str, attempt: int = 1) -> dict[str, str]:
    """label -> state of this sweep's jobs (of this attempt) in ts's own list: `-l` on Debian,
    `-M tab` on the fork (its `-l` cuts labels short)."""
    if sandbox.variant == "fork":
        listed = parse_tab(sandbox.tsp("-M", "tab").stdout)
    else:
        listed = parse_list(sandbox.tsp("-l").stdout)
    rows = {}
    for row in listed:
        label = row.label or ""
        if f"/{sweep}/" not in label:
            continue
        _, _, tries = label.rpartition("/")[2].partition("#")
        if int(tries or 1) == attempt:
            rows[label] = row.state
    return rows


def _result(sandbox: Sandbox, job: dict[str, Any]) -> dict[str, Any] | None:
    spool = next((sandbox.root / "multirun").glob(f"*/.tsq/{job['sweep']}"))
    path = SpoolDir(spool).result_json(job["num"], job["attempt"])
    return json.loads(path.read_text()) if path.exists() else None


def _assert_truth(sandbox: Sandbox, jobs: list[dict[str, Any]]) -> None:
    """Every record agrees with the job's result file and ts's list: a result decides its
    state; a job without one is never recorded as having ended well; `lost` only where ts
    holds nothing for it."""
    rows: dict[str, str] = {}
    if Path(sandbox.socket).exists():
        for attempt in {job["attempt"] for job in jobs}:
            rows.update(_ts_rows(sandbox, jobs[0]["sweep"], attempt))
    for job in jobs:
        result = _result(sandbox, job)
        if result is not None and job["state"] in ("completed", "failed"):
            assert job["state"] == result["status"], job
        elif job["state"] in ("queued", "running"):
            assert rows.get(job["label"]) in ("queued", "running") or result is None, job
        else:
            assert result is None, f"a job with a result recorded as {job['state']}: {job}"
        if job["state"] == "lost":
            assert rows.get(job["label"]) is None, f"lost, but ts holds it: {job}"


def _settled(sandbox: Sandbox, sweep: str, attempt: int) -> tuple[dict[str, str], list[dict]]:
    """ts's rows of the sweep's attempt and the records after a refresh, read until ts's list
    is the same before and after the refresh: a ts client a killed command started may still
    be finishing its request."""

    def read() -> tuple[dict[str, str], list[dict], dict[str, str]]:
        before = _ts_rows(sandbox, sweep, attempt)
        return before, sandbox.status(), _ts_rows(sandbox, sweep, attempt)

    before, jobs, _ = eventually(
        read, "ts's list to stay the same over a refresh", until=lambda seen: seen[0] == seen[2]
    )
    return before, jobs


# --- retry and cancel while status loops run -------------------------------------------------


def test_retry_while_status_loops_records_every_new_attempt(
    sandbox: Sandbox, pollers: Pollers
) -> None:
    sweep = _failed_sweep(sandbox)
    blocker = sandbox.block_queue()
    proc = sandbox.tsq("retry", sweep)
    said = f"sweep {sweep}: queued {N} jobs again ({' '.join(map(str, range(N)))})"
    assert proc.stdout.startswith(f"{said} with the code as launched")
    queued = sandbox.status()
    assert {(j["state"], j["attempt"]) for j in queued} == {("queued", 2)}, "none lost"
    assert all(j["queue_id"] is not None for j in queued)
    sandbox.release(blocker)
    jobs = sandbox.wait_terminal(timeout=300)
    pollers.finish()
    assert {(j["state"], j["attempt"]) for j in jobs} == {("completed", 2)}
    _assert_truth(sandbox, jobs)
    collected = json.loads(sandbox.tsq("collect", sweep, "--json").stdout)
    assert sorted(r["return_value"] for r in collected) == list(range(N)), "all collected"


def test_cancel_while_status_loops_marks_every_job_cancelled(
    sandbox: Sandbox, pollers: Pollers
) -> None:
    blocker = sandbox.block_queue()
    sweep = _launch(sandbox, "noop.py", f"+x=range(0,{N})")
    proc = sandbox.tsq("cancel", sweep)
    assert (
        proc.stdout.strip() == f"sweep {sweep}: {N} queued jobs removed from ts; marked cancelled"
    )
    jobs = sandbox.status()
    pollers.finish()
    assert {j["state"] for j in jobs} == {"cancelled"}, "none lost"
    assert _ts_rows(sandbox, sweep) == {}, "none left in ts"
    again = sandbox.tsq("retry", sweep, "--cancelled")
    assert f"queued {N} jobs again" in again.stdout, "retry --cancelled finds every one"
    sandbox.release(blocker)
    jobs = sandbox.wait_terminal(timeout=300)
    assert {j["state"] for j in jobs} == {"completed"}
    _assert_truth(sandbox, jobs)


def test_retry_and_cancel_at_once_leave_only_true_records(
    sandbox: Sandbox, pollers: Pollers
) -> None:
    sweep = _failed_sweep(sandbox)
    blocker = sandbox.block_queue()
    commands = [
        subprocess.Popen([sys.executable, "-m", "tsq", verb, sweep], env=sandbox.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for verb in ("retry", "cancel")
    ]  # fmt: skip
    for command in commands:
        out, err = command.communicate(timeout=120)
        assert command.returncode == 0 and "Traceback" not in err, (out, err)
    sandbox.release(blocker)
    jobs = sandbox.wait_terminal(timeout=300)
    pollers.finish()
    assert "lost" not in {j["state"] for j in jobs}, [j for j in jobs if j["state"] == "lost"]
    for job in jobs:
        if job["attempt"] == 1:
            assert job["state"] == "failed", "not retried: as it was"
        else:
            assert job["state"] in ("completed", "cancelled"), job
    _assert_truth(sandbox, jobs)


def test_cancel_killed_half_way_leaves_no_lost_job(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    sweep = _launch(sandbox, "noop.py", f"+x=range(0,{N})")
    cancel = subprocess.Popen([sys.executable, "-m", "tsq", "cancel", sweep], env=sandbox.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    eventually(
        lambda: len(_ts_rows(sandbox, sweep)) <= N // 2,
        "cancel to remove half the jobs",
        timeout=180,
    )
    cancel.kill()
    cancel.wait()
    in_ts, jobs = _settled(sandbox, sweep, 1)
    states = {j["label"]: j["state"] for j in jobs}
    assert all(states[label] == "queued" for label in in_ts), "not reached: still queued"
    assert all(state == "cancelled" for label, state in states.items() if label not in in_ts), (
        "taken out of ts: cancelled, never lost"
    )
    again = sandbox.tsq("retry", sweep, "--cancelled")
    assert f"queued {N - len(in_ts)} jobs again" in again.stdout
    sandbox.release(blocker)
    jobs = sandbox.wait_terminal(timeout=300)
    assert {j["state"] for j in jobs} == {"completed"}
    _assert_truth(sandbox, jobs)


def test_retry_killed_half_way_leaves_only_true_records(sandbox: Sandbox) -> None:
    sweep = _failed_sweep(sandbox)
    blocker = sandbox.block_queue()
    retry = subprocess.Popen([sys.executable, "-m", "tsq", "retry", sweep], env=sandbox.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    eventually(
        lambda: len(_ts_rows(sandbox, sweep, 2)) >= N // 4, "retry to queue some jobs", timeout=180
    )
    retry.kill()
    retry.wait()
    in_ts, jobs = _settled(sandbox, sweep, 2)
    assert 0 < len(in_ts) < N
    for job in jobs:
        if job["label"] in in_ts:
            assert job["state"] == "queued" and job["queue_id"] is not None, job
        elif job["attempt"] == 2:
            assert job["state"] == "lost" and "never queued" in job["reason"], job
        else:
            assert job["state"] == "failed", job
    sandbox.release(blocker)
    _assert_truth(sandbox, sandbox.wait_terminal(timeout=300))


# --- what a refresh may decide ------------------------------------------------------------------


def test_a_job_removed_by_hand_is_cancelled_not_lost(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    sweep = _launch(sandbox, "noop.py", "+x=range(0,3)")
    removed = by_num(sandbox.status())[1]
    sandbox.tsp("-r", str(removed["queue_id"]))
    jobs = by_num(sandbox.status())
    assert jobs[1]["state"] == "cancelled"
    assert "removed from task-spooler's queue before it started" in jobs[1]["reason"]
    assert [jobs[n]["state"] for n in (0, 2)] == ["queued", "queued"]
    sandbox.release(blocker)
    assert [j["state"] for j in sandbox.wait_terminal()] == ["completed", "cancelled", "completed"]
    assert sweep


def test_the_runner_check_matches_the_job_and_attempt_not_a_sibling(tmp_path: Path) -> None:
    """A real process with a runner's command line: it blocks opening its spec (a FIFO)."""
    spool = SpoolDir(tmp_path / ".tsq" / "abc")
    spool.root.mkdir(parents=True)
    spec = spool.spec(0)
    os.mkfifo(spec, 0o600)
    runner = subprocess.Popen([sys.executable, "-m", "tsq.runner", str(spec), "1"],
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        started = Started(pid=runner.pid, started_at=0.0)

        def job(num: int, attempt: int) -> Job:
            return Job(num=num, attempt=attempt)

        eventually(
            lambda: runner_alive(started, spool, job(1, 1)), "the runner to start", timeout=180
        )
        assert not runner_alive(started, spool, job(0, 1)), "a sibling job's runner"
        assert not runner_alive(started, spool, job(1, 2)), "another attempt's runner"
        assert not runner_alive(started, SpoolDir(tmp_path / "other"), job(1, 1))
    finally:
        runner.kill()
        runner.wait()
    assert not runner_alive(started, spool, Job(num=1, attempt=1)), "its pid is gone"


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_a_launcher_killed_in_a_pid_namespace_is_not_taken_for_alive(sandbox: Sandbox) -> None:
    """Inside its own pid namespace the launcher is pid 1, which is always alive out here:
    a recorded pid would keep its unqueued jobs `queued` forever. (Debian's ts runs each job
    under the client that queued it, so the jobs it did queue die with the namespace: they
    end as failed.)"""
    if os.geteuid() != 0:
        pytest.skip("a pid namespace needs root (CI runs as root)")
    blocker = sandbox.block_queue()
    launcher = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", sys.executable, "noop.py",
         "-m",
         "hydra/launcher=ts", "+x=range(0,100)", f"hydra.sweep.dir={sandbox.root}/multirun/ns"],
        cwd=sandbox.app_dir, env=sandbox.env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    eventually(
        lambda: launcher.poll() is None and len(sandbox.tsp("-l").stdout.splitlines()) > 10,
        "jobs to be queued",
        timeout=300,
    )
    launcher.send_signal(signal.SIGKILL)  # unshare's child, pid 1 inside, dies with it
    launcher.wait()
    eventually(
        lambda: not _namespace_alive(sandbox), "the namespace's processes to end", timeout=180
    )
    jobs = sandbox.status()
    assert len(jobs) == 100
    sweep = jobs[0]["sweep"]
    in_ts = _ts_rows(sandbox, sweep)
    assert 0 < len(in_ts) < 100
    for job in jobs:
        if job["label"] in in_ts:
            assert job["state"] in ("queued", "failed") and job["queue_id"] is not None, job
        else:
            assert job["state"] == "lost" and "never" in job["reason"], job
    sandbox.release(blocker)
    wait = sandbox.tsq("wait", sweep, "--timeout", "120", check=False)
    assert wait.returncode == 1, "every job ended: none waits forever for a dead launcher"


def _namespace_alive(sandbox: Sandbox) -> bool:
    """Whether a launcher of this sandbox still runs (found by its sweep dir argument)."""
    needle = f"{sandbox.root}/multirun/ns".encode()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and needle in (proc / "cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


# --- followers of a forgotten sweep ------------------------------------------------------------


def test_followers_of_a_forgotten_sweep_stop_with_one_line(sandbox: Sandbox) -> None:
    """`tsq wait` and a `wait=true` launcher follow a sweep that `tsq forget` drops."""
    blocker = sandbox.block_queue()
    sweep = _launch(sandbox, "noop.py", "+x=range(0,2)")
    followers = {
        "wait": [sys.executable, "-m", "tsq", "wait", sweep],
        "launcher": [sys.executable, "noop.py", "-m", "hydra/launcher=ts", "+x=range(0,2)",
                     "hydra.launcher.wait=true", f"hydra.sweep.dir={sandbox.root}/multirun/w"],
    }  # fmt: skip
    procs = {
        name: subprocess.Popen(argv, cwd=sandbox.app_dir, env=sandbox.env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for name, argv in followers.items()
    }  # fmt: skip
    seen: dict[str, str] = {}
    for name, proc in procs.items():
        assert proc.stderr is not None
        # Progress goes to stderr once a round has been made: the follower is following.
        while "queued" not in (line := proc.stderr.readline()):
            assert line, f"{name} ended before following"
        seen[name] = line.split("sweep ")[1].split(":")[0].split()[0]
    for followed in set(seen.values()):
        # An active sweep is forgotten only with its jobs cancelled first: a follower sees
        # either its jobs cancelled or the sweep gone, whichever its next round finds.
        sandbox.tsq("forget", followed, "--yes", "--cancel")
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (1, 2) and "Traceback" not in err, (name, err)
        assert f"sweep {seen[name]} was forgotten" in err or "cancelled" in err, (name, err)
    assert seen["wait"] == sweep
    sandbox.release(blocker)


def test_a_job_still_being_queued_by_a_killed_retry_is_not_called_lost(
    sandbox: Sandbox,
) -> None:
    """`retry` is SIGKILLed while its ts client is queueing a job (a ts wrapper holds that
    client until the test lets it go); the client goes on and queues the job. Meanwhile a
    refresh must not record it as never queued: it runs, and ends completed."""
    fifo, block = sandbox.root / "hold", sandbox.root / "block-next"
    os.mkfifo(fifo)
    wrapper = sandbox.root / "tsp-held"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *" -- "*) if [ -e {block} ]; then rm {block}; cat {fifo} >/dev/null; fi;;'
        " esac\n"
        f'exec {sandbox.binary} "$@"\n'
    )
    wrapper.chmod(0o755)
    sweep = _launch(sandbox, "flaky.py", "+x=range(0,3)", f"+flags={sandbox.root}/flags",
                    f"hydra.launcher.binary={wrapper}")  # fmt: skip
    assert {j["state"] for j in sandbox.wait_terminal()} == {"failed"}
    block.touch()
    retry = subprocess.Popen([sys.executable, "-m", "tsq", "retry", sweep], env=sandbox.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    eventually(lambda: not block.exists(), "retry's ts client to be held", timeout=180)
    retry.kill()
    retry.wait()
    jobs = by_num(sandbox.status())
    assert (jobs[0]["state"], jobs[0]["attempt"]) == ("queued", 2), "its client still runs"
    assert [jobs[n]["state"] for n in (1, 2)] == ["lost", "lost"], "never queued: true"
    with open(fifo, "w"):  # let the held client go: it queues the job
        pass
    eventually(
        lambda: f"{sweep}/0#2" in "".join(_ts_rows(sandbox, sweep, 2)), "job 0 in ts", timeout=180
    )
    jobs = by_num(sandbox.wait_terminal())
    assert (jobs[0]["state"], jobs[0]["attempt"]) == ("completed", 2)
    assert jobs[0]["queue_id"] is not None
