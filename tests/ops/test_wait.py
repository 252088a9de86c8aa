"""Blocking mode (`hydra.launcher.wait=true`): results inside the launching process."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

import yaml
from eventually import eventually
from procs import finish, read_until
from sweeps import Sandbox, by_num, notified, notify_with

WAIT = "hydra.launcher.wait=true"
OPTUNA = [
    "hydra/sweeper=optuna",
    "hydra/sweeper/sampler=grid",
    "hydra.sweeper.n_trials=12",
    "hydra.sweeper.n_jobs=4",
    "hydra.sweeper.direction=minimize",
    "+x=choice(0,1,2,3)",
    "+y=choice(-1,0,1)",
]


def test_optuna_sweep_reads_every_batch_and_finds_the_optimum(sandbox: Sandbox) -> None:
    """Also `notify`: a sweeper's batches make one sweep, so it runs once, after the last; on a
    host named by TSQ_HOST (not its hostname), whose launcher the watcher still sees alive."""
    sandbox.env["TSQ_HOST"] = "named-by-tsq-host"
    out = sandbox.root / "notified.jsonl"
    proc = sandbox.sweep(*OPTUNA, WAIT, notify_with(out), script="quadratic.py")
    sweep_dir = next((sandbox.root / "multirun").iterdir())
    found = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert found["best_params"] == {"+x": 2, "+y": -1}
    assert found["best_value"] == 0.0
    jobs = sandbox.status()
    assert len(jobs) == 12 and {j["state"] for j in jobs} == {"completed"}
    assert len({j["sweep"] for j in jobs}) == 1, "three batches, one sweep"
    assert proc.stderr.count("4 completed") == 3, "progress shown for each of the 3 batches"
    (line,) = notified(out)
    assert (line["env"]["TSQ_JOBS"], line["env"]["TSQ_COMPLETED"]) == ("12", "12")
    assert line["at"] >= max(job["ended_at"] for job in jobs), "after the last batch's jobs"


def test_optuna_without_wait_is_refused_before_anything_is_queued(sandbox: Sandbox) -> None:
    proc = sandbox.sweep(*OPTUNA, script="quadratic.py", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "OptunaSweeper" in proc.stderr and "hydra.launcher.wait=true" in proc.stderr
    assert not sandbox.store.exists() or sandbox.status() == []
    assert sandbox.tsp("-l").stdout.splitlines()[1:] == []


def test_failed_job_fails_the_sweep_as_with_the_basic_launcher(sandbox: Sandbox) -> None:
    proc = sandbox.sweep("x=1,2", "fail=false,true", WAIT, check=False)
    assert proc.returncode == 1
    assert "ValueError: asked to fail with x=1" in proc.stderr
    assert "Error executing job with overrides: ['x=1', 'fail=True']" in proc.stderr
    assert 'app.py", line' in proc.stderr, "the job's own traceback, naming the app file"


def _launch_waiting(sandbox: Sandbox, *overrides: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "app.py", "-m", "hydra/launcher=ts", WAIT,
         f"hydra.sweep.dir={sandbox.root}/multirun/w", *overrides],
        cwd=sandbox.app_dir, env=sandbox.env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_job_killed_while_waiting_ends_the_wait_with_the_cause(sandbox: Sandbox) -> None:
    launcher = _launch_waiting(sandbox, "sleep=60")
    pid = sandbox.started(0)["pid"]
    os.kill(pid, signal.SIGKILL)
    _, err = launcher.communicate(timeout=60)
    assert launcher.returncode == 1
    assert "killed by SIGKILL before it wrote a result" in err
    assert sandbox.status()[0]["state"] == "failed"


def test_a_job_lost_while_waiting_ends_the_wait_with_the_cause(sandbox: Sandbox) -> None:
    sandbox.block_queue()
    launcher = _launch_waiting(sandbox, "x=1,2")
    eventually(
        lambda: sandbox.tsp("-l").stdout.splitlines(),
        "the blocker and both jobs in ts's list",
        until=lambda lines: len(lines) == 4,
    )
    sandbox.kill_server()
    _, err = launcher.communicate(timeout=60)
    assert launcher.returncode == 1
    # "is gone"; or, when the server died between a refresh's probe and its `ts -l`, that
    # ts client started a new, empty server there (as any ts command does), which lists
    # neither job: "was restarted", or "no longer lists" when the new server's identity could
    # not be read yet. Every one of them is the server's loss, and both jobs are lost.
    causes = (
        f"the ts server on {sandbox.socket} is gone",
        f"the ts server on {sandbox.socket} was restarted since job",
        "ts no longer lists job",
    )
    assert any(cause in err for cause in causes), err
    assert [j["state"] for j in sandbox.status()] == ["lost", "lost"]


def test_ctrl_c_while_waiting_leaves_the_jobs_queued_and_recorded(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    launcher = subprocess.Popen(
        [sys.executable, "app.py", "-m", "hydra/launcher=ts", WAIT,
         f"hydra.sweep.dir={sandbox.root}/multirun/w", "x=1,2"],
        cwd=sandbox.app_dir, env=sandbox.env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    # Its first progress line: both jobs are queued and recorded, and it is waiting.
    seen = read_until(launcher.stderr, ": 2 queued\n")
    launcher.send_signal(signal.SIGINT)
    _, rest = finish(launcher, timeout=30)
    err = seen + rest
    assert launcher.returncode == 1
    assert "Traceback" not in err
    line = next(line for line in err.splitlines() if "stopped waiting" in line)
    assert "stay queued" in line and "python -m tsq status" in line
    jobs = by_num(sandbox.status())
    assert [jobs[n]["state"] for n in (0, 1)] == ["queued", "queued"]
    listed = sandbox.tsp("-l").stdout
    assert all(f"[{jobs[n]['label']}]" in listed for n in (0, 1))
    sandbox.release(blocker)
    assert {j["state"] for j in sandbox.wait_terminal()} == {"completed"}


def test_progress_is_a_bar_on_a_terminal(sandbox: Sandbox) -> None:
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "-m", "hydra/launcher=ts", WAIT, "x=1,2",
         f"hydra.sweep.dir={sandbox.root}/multirun/tty"],
        cwd=sandbox.app_dir, env=sandbox.env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert proc.wait(timeout=60) == 0
    text = output.decode()
    assert "\r" in text and "[##############################] 2/2  2 completed" in text
    assert Path(sandbox.root / "multirun" / "tty").is_dir()
