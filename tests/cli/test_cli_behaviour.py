"""The CLI as a shell user meets it: output piped into `head`, Ctrl-C, end of input at a prompt,
sweep dirs with `=` in their name, counts in messages, a store path that is a directory."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from procs import finish, popen_tsq, read_until
from records import job, local_sweep
from sweeps import Sandbox

from tsq.store import Store

MANY = 3000  # rows of status or collect: far more than a pipe holds (64 KiB)


def _sweep_id(sandbox: Sandbox) -> str:
    return sandbox.status()[0]["sweep"]


def _first_line_then_close(proc: subprocess.Popen[bytes]) -> str:
    """Read one line and stop reading, as `| head -1` does; the rest of stderr once it exits."""
    assert proc.stdout is not None and proc.stdout.readline()
    proc.stdout.close()
    return finish(proc)[1]


@pytest.fixture
def many_jobs(sandbox: Sandbox) -> str:
    """A sweep of MANY finished jobs in the sandbox's store, recorded through the package API."""
    sweep = local_sweep("f00d00000001", sandbox.root, sandbox.socket, created_at=time.time(),
                       njobs=MANY)  # fmt: skip
    jobs = [
        job(n, "completed", "lr=0.001", "model=resnet50", f"seed={n}", queue_id=n, exit_code=0)
        for n in range(MANY)
    ]
    Store.open(sandbox.store).add_sweep(sweep, jobs)
    return sweep.id


def test_status_into_head_ends_quietly(sandbox: Sandbox, many_jobs: str) -> None:
    proc = popen_tsq(sandbox, "status", "--all")
    assert _first_line_then_close(proc) == "", "no BrokenPipeError, no 'Exception ignored'"
    assert proc.returncode == 141


def test_collect_into_a_reader_gone_at_once_ends_quietly(sandbox: Sandbox, many_jobs: str) -> None:
    proc = popen_tsq(sandbox, "collect", "--format", "csv")
    assert proc.stdout is not None
    proc.stdout.close()  # `| true`: not one byte read
    assert finish(proc)[1] == ""
    assert proc.returncode == 141


def test_logs_into_head_ends_quietly(sandbox: Sandbox) -> None:
    sandbox.sweep("+lines=5000", script="chatty.py")
    sandbox.wait_terminal()
    proc = popen_tsq(sandbox, "logs", f"{_sweep_id(sandbox)}:0")
    assert _first_line_then_close(proc) == ""
    assert proc.returncode == 141


def test_ctrl_c_in_wait_is_one_line_and_130(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    sandbox.sweep("x=1")
    proc = popen_tsq(sandbox, "wait")
    read_until(proc.stderr, ": 1 queued\n")
    proc.send_signal(signal.SIGINT)
    _, err = finish(proc)
    assert proc.returncode == 130
    assert err.splitlines() == ["tsq: interrupted"]
    assert sandbox.status()[0]["state"] == "queued", "Ctrl-C stops waiting, not the jobs"
    sandbox.release(blocker)


def test_ctrl_c_in_logs_follow_is_one_line_and_130(sandbox: Sandbox) -> None:
    sandbox.sweep("x=4", "sleep=60")
    proc = popen_tsq(sandbox, "logs", "-f", f"{_sweep_id(sandbox)}:0")
    read_until(proc.stdout, "job 0 running with x=4")
    proc.send_signal(signal.SIGINT)
    _, err = finish(proc)
    assert proc.returncode == 130
    assert err.splitlines() == ["tsq: interrupted"]


def test_end_of_input_at_the_forget_prompt_answers_no(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1")
    sandbox.wait_terminal()
    master, slave = pty.openpty()
    proc = popen_tsq(sandbox, "forget", _sweep_id(sandbox), stdin=slave)
    os.close(slave)
    try:
        read_until(proc.stdout, "[y/N] ")
        os.write(master, b"\x04")  # Ctrl-D at the start of a line: the terminal's end of input
        out, err = finish(proc)
    finally:
        os.close(master)
    assert (proc.returncode, out.strip(), err) == (0, "nothing forgotten", "")
    assert len(sandbox.status()) == 1


def test_a_sweep_dir_with_equals_signs_is_a_sweep_everywhere(sandbox: Sandbox) -> None:
    sandbox.sweep("x=9")  # another sweep: naming the dir must select the right one
    other = _sweep_id(sandbox)
    sweep_dir = sandbox.root / "multirun" / "lr=0.1,seed=1"
    app = [sys.executable, "app.py", "-m", "hydra/launcher=ts"]
    sandbox.run([*app, f'hydra.sweep.dir="{sweep_dir}"', "x=1,2", "message=/data/a"])
    sandbox.wait_terminal()
    ref = str(sweep_dir)
    sweep = json.loads(sandbox.tsq("collect", ref, "--json").stdout)[0]["sweep"]
    jobs = sandbox.status(ref)
    assert [(j["sweep"], j["num"]) for j in jobs] == [(sweep, 0), (sweep, 1)]
    assert [j["num"] for j in sandbox.status(ref, "x=2")] == [1], "and filters still filter"
    assert len(sandbox.status(ref, "message=/data/a")) == 2, "a filter's value may be a path"
    here = subprocess.run(
        [sys.executable, "-m", "tsq", "status", "--json", sweep_dir.name],
        cwd=sweep_dir.parent, env=sandbox.env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert {j["sweep"] for j in json.loads(here.stdout)} == {sweep}, "a directory's bare name"
    assert sandbox.tsq("wait", ref).returncode == 0
    assert "job 0 running with x=1" in sandbox.tsq("logs", f"{ref}:0").stdout
    assert f"sweep {sweep}: queued 1 job again (0)" in sandbox.tsq("retry", ref, "0").stdout
    assert sandbox.tsq("cancel", ref).returncode == 0
    assert f"forgot sweep {sweep}" in sandbox.tsq("forget", ref, "--yes").stdout
    assert {j["sweep"] for j in sandbox.status()} == {other}, "the other sweep stays"


def test_counts_agree_with_their_nouns(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    sandbox.sweep("x=1")
    sweep = _sweep_id(sandbox)
    assert "  1 job: 1 queued\n" in sandbox.tsq("status").stdout
    pending = sandbox.tsq("collect", sweep).stderr
    assert f"not finished yet: 1 of 1 job of sweep {sweep} (1 queued)" in pending
    refused = sandbox.tsq("forget", sweep, check=False).stderr
    assert f"sweep {sweep} has 1 job queued or running (1 queued);" in refused
    asked = sandbox.tsq("forget", sweep, "--cancel", check=False).stderr
    assert "(app, 1 job, " in asked and "its 1 queued or running job will be cancelled" in asked
    sandbox.release(blocker)
    sandbox.wait_terminal()
    assert f"sweep {sweep}: queued 1 job again (0)" in sandbox.tsq("retry", sweep, "0").stdout
    sandbox.wait_terminal()
    assert "forgot sweep" in (gone := sandbox.tsq("forget", sweep, "--yes").stdout)
    assert ": 1 job record dropped;" in gone
    assert sandbox.status() == []


def test_a_store_path_that_is_a_directory_says_so(sandbox: Sandbox, tmp_path: Path) -> None:
    directory = tmp_path / "stores"
    directory.mkdir()
    proc = sandbox.tsq("status", "--store", str(directory), check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"tsq: {directory} is a directory; give a file path, e.g. {directory}/tsq.db"
    ]
