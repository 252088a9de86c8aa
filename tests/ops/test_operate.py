"""Operating a sweep after launch: wait, logs, cancel, forget."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from eventually import eventually
from procs import alive
from sweeps import Sandbox, by_num


def _sweep_id(sandbox: Sandbox) -> str:
    return sandbox.status()[0]["sweep"]


def test_wait_exits_0_when_all_completed_and_1_on_failure(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1,2", "sleep=0.5")
    done = sandbox.tsq("wait")
    assert done.returncode == 0
    assert f"tsq: sweep {_sweep_id(sandbox)}: 2 completed" in done.stderr
    assert {j["state"] for j in sandbox.status()} == {"completed"}
    sandbox.sweep("fail=true")
    failed = sandbox.tsq("wait", check=False)
    assert failed.returncode == 1 and "1 failed" in failed.stderr


def test_wait_timeout_has_its_own_exit_status(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    sandbox.sweep("x=1,2")
    proc = sandbox.tsq("wait", "--timeout", "1", check=False)
    assert proc.returncode == 3
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("tsq: ") and "not finished after 1 s (2 queued)" in line
    sandbox.release(blocker)


def test_logs_show_output_and_job_log_even_after_ts_forgot(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1,2", "fail=false,true")
    sandbox.wait_terminal()
    sweep = _sweep_id(sandbox)
    sandbox.kill_server()
    ok = sandbox.tsq("logs", f"{sweep}:0").stdout
    assert "==> output (stdout and stderr): " in ok and "==> Hydra job log: " in ok
    assert ok.count("job 0 running with x=1") == 2, "in ts's output file and in the job log"
    failed = sandbox.tsq("logs", f"{sweep[:5]}:1").stdout
    assert "ValueError: asked to fail with x=1" in failed, "the failure's traceback"


def test_logs_errors_are_one_line(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    sandbox.sweep("x=1")
    sweep = _sweep_id(sandbox)
    for ref, message in ((f"{sweep}:0", "has not started yet"), (f"{sweep}:7", "has no job 7"),
                         (sweep, "is not a job")):  # fmt: skip
        proc = sandbox.tsq("logs", ref, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    sandbox.release(blocker)


def test_logs_follow_a_running_job_until_it_ends(sandbox: Sandbox) -> None:
    sandbox.sweep("x=5", "sleep=3")
    sweep = next((sandbox.root / "multirun").glob("*/.tsq/*"))
    sandbox.started(0)
    follow = sandbox.tsq("logs", f"{sweep.name}:0", "-f")
    assert "job 0 running with x=5" in follow.stdout
    assert sandbox.status()[0]["state"] == "completed", "-f returns once the job has ended"


def test_cancel_touches_only_what_it_is_asked_to(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    by_hand = int(sandbox.tsp("-L", "mine", "true").stdout)
    sandbox.sweep("x=1,2,3")
    sweep = _sweep_id(sandbox)
    one = sandbox.tsq("cancel", f"{sweep}:1")
    assert "1 queued job removed from ts; marked cancelled" in one.stdout
    jobs = by_num(sandbox.status())
    assert [jobs[n]["state"] for n in range(3)] == ["queued", "cancelled", "queued"]
    listing = sandbox.tsp("-l").stdout
    assert f"[app/{sweep}/1]" not in listing and f"[app/{sweep}/0]" in listing
    sandbox.tsq("cancel", sweep)
    assert {j["state"] for j in sandbox.status()} == {"cancelled"}
    listing = sandbox.tsp("-l").stdout
    assert f"/{sweep}/" not in listing
    rows = {int(line.split()[0]): line for line in listing.splitlines()[1:]}
    assert " running " in rows[blocker] and "[mine]" in rows[by_hand], "not tsq's: untouched"
    sandbox.release(blocker)


def test_cancel_stops_a_running_job(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1", "sleep=60")
    spool = next((sandbox.root / "multirun").glob("*/.tsq/*"))
    pid = sandbox.started(0)["pid"]
    proc = sandbox.tsq("cancel", spool.name)
    assert "1 running job stopped (SIGTERM); marked cancelled" in proc.stdout
    eventually(lambda: not alive(pid), "the job process to end", timeout=10)
    job = sandbox.status()[0]
    assert job["state"] == "cancelled" and "tsq cancel" in job["reason"]


def test_a_job_that_answers_cancel_with_a_result_is_recorded_as_its_result(
    sandbox: Sandbox,
) -> None:
    """A result written after cancel looked (here: the task returns once signalled) wins over
    the cancel: the record says what the job's files say, and collect returns it."""
    sandbox.sweep("+x=1", script="graceful.py")
    eventually(lambda: list((sandbox.root / "multirun").glob("*/0/ready")), "the task to start")
    proc = sandbox.tsq("cancel", _sweep_id(sandbox))
    assert "1 running job stopped (SIGTERM); 1 job wrote a result as it stopped" in proc.stdout
    assert "marked cancelled" not in proc.stdout
    [job] = sandbox.wait_terminal()
    assert job["state"] == "completed", job
    [row] = json.loads(sandbox.tsq("collect", "--json").stdout)
    assert row["return_value"] == {"stopped_by": "SIGTERM", "step": 7}


def test_cancel_says_what_it_did_and_only_that(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1,2")
    sandbox.wait_terminal()
    sweep = _sweep_id(sandbox)
    whole = sandbox.tsq("cancel", sweep)
    assert whole.stdout.strip() == f"sweep {sweep}: nothing cancelled; 2 jobs had already ended"
    one = sandbox.tsq("cancel", f"{sweep}:1")
    assert one.stdout.strip() == f"sweep {sweep}: nothing cancelled; job 1 had already ended"
    assert {j["state"] for j in sandbox.status()} == {"completed"}


def test_cancel_stops_a_job_that_outlived_its_ts_server(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1", "sleep=60")
    pid = sandbox.started(0)["pid"]
    sandbox.tsp("-K")  # the server is gone; its running job goes on
    assert sandbox.status()[0]["state"] == "running"
    proc = sandbox.tsq("cancel", _sweep_id(sandbox))
    assert "1 running job stopped (SIGTERM); marked cancelled" in proc.stdout
    eventually(lambda: not alive(pid), "the job process to end", timeout=10)
    assert sandbox.status()[0]["state"] == "cancelled"


def test_forget_asks_unless_yes_and_keeps_the_files(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1")
    sandbox.wait_terminal()
    sweep = _sweep_id(sandbox)
    refused = sandbox.tsq("forget", sweep, check=False)
    assert refused.returncode == 2 and "confirm with --yes" in refused.stderr
    assert len(sandbox.status()) == 1
    answered = subprocess.run(
        [sys.executable, "-m", "tsq", "forget", sweep, "--yes"], env=sandbox.env,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert f"forgot sweep {sweep}" in answered.stdout
    assert sandbox.status() == []
    assert list((sandbox.root / "multirun").glob("*/0/.hydra/config.yaml")), "files stay"


def test_status_filters_by_state_and_override(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1,2", "fail=false,true")
    sandbox.wait_terminal()
    failed = sandbox.status("--state", "FAILED,lost")
    assert [(j["num"], j["state"]) for j in failed] == [(1, "failed"), (3, "failed")]
    x2 = sandbox.status("x=2")
    assert [j["num"] for j in x2] == [2, 3]
    both = sandbox.status("x=2", "fail=True", "--state", "failed")
    assert [j["num"] for j in both] == [3]
    table = sandbox.tsq("status", "x=7").stdout
    assert "4 jobs: 2 completed, 2 failed" in table, "the summary counts the whole sweep"
    assert "(no job matches the filters)" in table
    for bad, message in (
        (["--state", "done"], "unknown state 'done'"),
        (["lr"], "no sweep matches 'lr'"),
        (["=1"], "bad override filter"),
    ):
        proc = sandbox.tsq("status", *bad, check=False)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_forget_refuses_a_sweep_with_queued_jobs_unless_asked_to_cancel_them(
    sandbox: Sandbox,
) -> None:
    """Forgetting would remove the code snapshot the queued jobs run: they would fail, and
    be recorded nowhere."""
    blocker = sandbox.block_queue()
    sandbox.sweep("x=1,2")
    sweep = _sweep_id(sandbox)
    with sqlite3.connect(sandbox.store) as db:
        (snapshot,) = db.execute("SELECT snapshot FROM sweeps").fetchone()
    refused = sandbox.tsq("forget", sweep, "--yes", check=False)
    assert refused.returncode == 2 and refused.stdout == "", refused
    assert refused.stderr == (
        f"tsq: sweep {sweep} has 2 jobs queued or running (2 queued); forgetting it now "
        f"would remove the code they need, and they would end unrecorded: cancel them first "
        f"(tsq cancel {sweep}), or forget --cancel\n"
    )
    assert Path(snapshot).is_dir() and [j["state"] for j in sandbox.status()] == ["queued"] * 2
    done = sandbox.tsq("forget", sweep, "--yes", "--cancel")
    assert done.stdout.splitlines() == [
        f"sweep {sweep}: 2 queued jobs removed from ts; marked cancelled",
        f"forgot sweep {sweep}: 2 job records dropped; its files are untouched; its code "
        f"snapshot {Path(snapshot).parent} is removed",
    ]
    assert sandbox.status() == [] and not Path(snapshot).exists()
    assert f"/{sweep}/" not in sandbox.tsp("-l").stdout, "nothing of it left to run"
    sandbox.release(blocker)
