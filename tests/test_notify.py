"""`hydra.launcher.notify`: a command run once, after the last job of a sweep has ended."""

from __future__ import annotations

import json
import time

from sweeps import Sandbox, notified, notify_with


def test_notify_runs_once_after_the_last_job_with_counts(sandbox: Sandbox) -> None:
    out = sandbox.root / "notified.jsonl"
    blocker = sandbox.block_queue()
    launched = sandbox.sweep("x=1,2", "fail=false,true", "sleep=0.5", notify_with(out))
    assert "watcher pid" in launched.stderr + launched.stdout
    queued = sandbox.tsp("-l").stdout.splitlines()[1:]
    assert len(queued) == 5, "the blocker and the 4 jobs: the notifier takes no queue slot"
    time.sleep(1.5)
    assert not out.exists(), "nothing ran while jobs are queued"
    assert "waits for the sweep to end" in sandbox.tsq("status").stdout
    sandbox.release(blocker)
    jobs = sandbox.wait_terminal()
    (line,) = notified(out)
    sweep = jobs[0]["sweep"]
    assert line["env"] == {
        **{k: v for k, v in line["env"].items() if k not in {
            "TSQ_SWEEP", "TSQ_JOBS", "TSQ_COMPLETED", "TSQ_FAILED", "TSQ_CANCELLED",
            "TSQ_LOST", "TSQ_COUNTS", "TSQ_STORE", "TSQ_SWEEP_DIR"}},
        "TSQ_SWEEP": sweep, "TSQ_JOBS": "4", "TSQ_COMPLETED": "2", "TSQ_FAILED": "2",
        "TSQ_CANCELLED": "0", "TSQ_LOST": "0", "TSQ_COUNTS": "2 completed, 2 failed",
        "TSQ_STORE": str(sandbox.store), "TSQ_SWEEP_DIR": line["env"]["TSQ_SWEEP_DIR"],
    }  # fmt: skip
    assert line["at"] >= max(job["ended_at"] for job in jobs), "after the last job"
    assert line["cwd"] == str(sandbox.app_dir)
    time.sleep(2)
    assert len(notified(out)) == 1, "once"
    status = sandbox.tsq("status", sweep).stdout
    assert "notify: ran '" in status and "(exit 0)" in status


def test_a_failing_notifier_is_recorded_and_shown(sandbox: Sandbox) -> None:
    out = sandbox.root / "notified.jsonl"
    sandbox.sweep("x=1", notify_with(out), env={"NOTIFIER_EXIT": "3"})
    sandbox.wait_terminal()
    notified(out)
    deadline = time.monotonic() + 30
    while "notify: FAILED" not in (status := sandbox.tsq("status").stdout):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    line = next(x for x in status.splitlines() if "notify:" in x)
    assert "exited 3: notifier giving up with 3 (output: " in line
    assert line.rstrip().endswith("notify.log)")


def test_a_lost_watcher_is_shown(sandbox: Sandbox) -> None:
    import os
    import signal

    blocker = sandbox.block_queue()
    sandbox.sweep("x=1", notify_with(sandbox.root / "never.jsonl"))
    (record,) = (sandbox.root / "multirun").glob("*/.tsq/*/notify.json")
    pid = json.loads(record.read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while "notify: LOST: its watcher" not in (status := sandbox.tsq("status").stdout):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    sandbox.release(blocker)


def test_braces_in_notify_are_refused_in_one_line_and_the_escape_runs(sandbox: Sandbox) -> None:
    """`${TSQ_COUNTS}` is an OmegaConf interpolation to Hydra, which reads the launcher's options
    twice: bare or escaped once it is refused in one line, nothing queued; escaped twice (or
    written `$TSQ_COUNTS`) the command runs and sees the counts."""
    out = sandbox.root / "counts.txt"
    for written in ("${TSQ_COUNTS}", r"\${TSQ_COUNTS}"):
        proc = sandbox.sweep("x=1", f"hydra.launcher.notify='echo {written} > {out}'", check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        (line,) = [x for x in proc.stderr.splitlines() if x.startswith("tsq: ")]
        assert line == (
            "tsq: hydra.launcher.notify: ${TSQ_COUNTS} is read by OmegaConf as an interpolation; "
            r"write $TSQ_COUNTS, or \\\${TSQ_COUNTS} (Hydra reads the option twice); "
            "nothing was queued"
        )
        assert sandbox.tsp("-l").stdout.splitlines()[1:] == [], "nothing queued"

    escaped = r"\\\${TSQ_COUNTS}"
    sandbox.sweep("x=1,2", "fail=false,true", f"hydra.launcher.notify='echo {escaped} > {out}'")
    sandbox.wait_terminal()
    deadline = time.monotonic() + 60
    while not out.exists() or not out.read_text().endswith("\n"):
        assert time.monotonic() < deadline, "the notify command did not run"
        time.sleep(0.1)
    assert out.read_text() == "2 completed, 2 failed\n"
