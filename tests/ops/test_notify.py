"""`hydra.launcher.notify`: a command run once, after the last job of a sweep has ended."""

from __future__ import annotations

import json
from pathlib import Path

from eventually import eventually
from procs import ending_with
from sweeps import Sandbox, notified, notify_with


def _watcher_said(spool: Path, waiting: str, out: Path) -> None:
    """Until the watcher has logged that it waits for `waiting` (it does so once it has looked
    at the sweep and decided not to run the command yet), or has run the command already."""
    log = spool / "notify.log"
    eventually(
        lambda: out.exists() or f"tsq.notify: waiting for {waiting}\n" in _text(log),
        f"the watcher to log that it waits for {waiting}",
    )


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_notify_runs_once_after_the_last_job_with_counts(sandbox: Sandbox) -> None:
    """The jobs hold until the test opens their gates (`+hold`): the watcher is seen deciding,
    with none ended and then with one left, not to run the command; it runs it once they have
    all ended, and its process ends without running it again."""
    out, gates = sandbox.root / "notified.jsonl", sandbox.root / "gates"
    gates.mkdir()
    launched = sandbox.sweep("x=1,2", "fail=false,true", f"+hold={gates}", notify_with(out))
    assert "watcher pid" in launched.stderr + launched.stdout
    queued = sandbox.tsp("-l").stdout.splitlines()[1:]
    assert len(queued) == 4, "the 4 jobs: the notifier takes no queue slot"
    (spool,) = (sandbox.root / "multirun").glob("*/.tsq/*")
    watcher = json.loads((spool / "notify.json").read_text())["pid"]
    assert ending_with(str(spool)) == [watcher], "the sweep's one watcher"

    _watcher_said(spool, "4 of 4 jobs to end", out)  # the launch is done: only jobs keep it
    assert not out.exists(), "nothing ran while no job had ended"
    assert "waits for the sweep to end" in sandbox.tsq("status").stdout
    for num in range(3):
        (gates / str(num)).touch()
    _watcher_said(spool, "1 of 4 jobs to end", out)
    assert not out.exists(), "nothing ran while one job had not ended"

    (gates / "3").touch()
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
    eventually(lambda: ending_with(str(spool)), "the watcher to end", until=lambda pids: not pids)
    assert len(notified(out)) == 1, "once, and no watcher is left to run it again"
    status = sandbox.tsq("status", sweep).stdout
    assert "notify: ran '" in status and "(exit 0)" in status


def test_a_failing_notifier_is_recorded_and_shown(sandbox: Sandbox) -> None:
    out = sandbox.root / "notified.jsonl"
    sandbox.sweep("x=1", notify_with(out), env={"NOTIFIER_EXIT": "3"})
    sandbox.wait_terminal()
    notified(out)
    status = eventually(
        lambda: sandbox.tsq("status").stdout,
        "status to show the notifier failed",
        until=lambda shown: "notify: FAILED" in shown,
        interval=0.2,
    )
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
    eventually(
        lambda: sandbox.tsq("status").stdout,
        "status to show the watcher lost",
        until=lambda shown: "notify: LOST: its watcher" in shown,
        interval=0.2,
    )
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
    eventually(
        lambda: _text(out),
        "the notify command to write its line",
        until=lambda text: text.endswith("\n"),
    )
    assert out.read_text() == "2 completed, 2 failed\n"
