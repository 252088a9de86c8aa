"""`tsq retry`: ended jobs queued again as new attempts; every attempt is kept."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from sweeps import Sandbox, by_num


def test_retry_failed_jobs_as_new_attempts(sandbox: Sandbox) -> None:
    flags = sandbox.root / "flags"
    sandbox.sweep("x=1,2", "fail=false,once", f"marker_dir={flags}",
                  "+hydra.launcher.env.TSQ_TEST_ENV=from the launch")  # fmt: skip
    first = by_num(sandbox.wait_terminal())
    assert [first[n]["state"] for n in range(4)] == ["completed", "failed"] * 2
    sweep = first[0]["sweep"]
    proc = sandbox.tsq("retry", sweep[:4], "--failed")
    assert proc.stdout.startswith(f"sweep {sweep}: queued 2 jobs again (1 3) with the code as")
    listing = sandbox.tsp("-l").stdout
    assert f"[app/{sweep}/1#2]" in listing and f"[app/{sweep}/3#2]" in listing
    jobs = by_num(sandbox.wait_terminal())
    assert [(jobs[n]["state"], jobs[n]["attempt"]) for n in range(4)] == [
        ("completed", 1), ("completed", 2), ("completed", 1), ("completed", 2)]  # fmt: skip
    assert jobs[1]["output_dir"] == first[1]["output_dir"], "the same output dir"
    assert jobs[1]["ts_id"] != first[1]["ts_id"]
    results = {r["num"]: r for r in json.loads(sandbox.tsq("collect", "--json").stdout)}
    assert results[1]["return_value"]["num"] == 1, "the latest attempt's result"
    assert results[1]["return_value"]["env"] == "from the launch", "queued the same way"
    with sqlite3.connect(sandbox.store) as db:
        history = db.execute(
            "SELECT j.num, a.number, a.state, a.reason, a.ts_id FROM attempts a"
            " JOIN jobs j ON j.id = a.job_id ORDER BY j.num"
        ).fetchall()
    assert history == [
        (1, 1, "failed", "RuntimeError: the first attempt fails", first[1]["ts_id"]),
        (3, 1, "failed", "RuntimeError: the first attempt fails", first[3]["ts_id"]),
    ]
    assert "TRY" in sandbox.tsq("status", sweep).stdout
    shown = by_num(json.loads(sandbox.tsq("status", sweep, "--attempts", "--json").stdout))
    assert [(a["attempt"], a["state"], a["ts_id"]) for a in shown[1]["attempts"]] == [
        (1, "failed", first[1]["ts_id"])
    ]
    assert shown[0]["attempts"] == [] and "attempts" not in jobs[0]
    table = sandbox.tsq("status", sweep, "--attempts").stdout.splitlines()
    rows = [line.split()[:2] for line in table if line.split()[:1] in (["1"], ["2"])]
    assert rows == [["1", "failed"], ["1", "completed"], ["2", "completed"]], table


def test_retry_selects_by_state_or_number_and_refuses_active_jobs(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    sandbox.sweep("x=1,2,3")
    sweep = sandbox.status()[0]["sweep"]
    sandbox.tsq("cancel", f"{sweep}:2")
    active = sandbox.tsq("retry", sweep, "0", check=False)
    assert active.returncode == 2 and "job 0 has not ended yet" in active.stderr
    assert sandbox.tsq("retry", sweep, "--lost").stdout.strip() == (
        f"sweep {sweep}: nothing to retry"
    )
    missing = sandbox.tsq("retry", sweep, "9", check=False)
    assert missing.returncode == 2 and "has no job 9" in missing.stderr
    again = sandbox.tsq("retry", sweep, "2")
    assert "queued 1 job again (2)" in again.stdout
    jobs = by_num(sandbox.status())
    assert (jobs[2]["state"], jobs[2]["attempt"]) == ("queued", 2)
    sandbox.release(blocker)
    assert {j["state"] for j in sandbox.wait_terminal()} == {"completed"}


def test_retry_runs_the_job_as_launched_from_any_shell(sandbox: Sandbox) -> None:
    """A relative sweep dir and a variable of the launching shell: a retry run from another
    directory, in a shell without that variable, still runs where and as the launch did."""
    flags = sandbox.root / "flags"
    sandbox.run(
        [sys.executable, "app.py", "-m", "hydra/launcher=ts", "x=1", "fail=once",
         f"marker_dir={flags}", "hydra.sweep.dir=relative/sweep"],
        env={"TSQ_TEST_ENV": "from the launching shell"},
    )  # fmt: skip
    first = sandbox.wait_terminal()[0]
    assert first["state"] == "failed"
    elsewhere = sandbox.root / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in sandbox.env.items() if k != "TSQ_TEST_ENV"}
    subprocess.run([sys.executable, "-m", "tsq", "retry", first["sweep"]], cwd=elsewhere,
                   env=env, check=True, capture_output=True)  # fmt: skip
    job = sandbox.wait_terminal()[0]
    assert (job["state"], job["attempt"]) == ("completed", 2)
    assert job["output_dir"] == first["output_dir"]
    assert job["output_dir"].startswith(str(sandbox.app_dir / "relative" / "sweep"))
    value = json.loads(sandbox.tsq("collect", "--json").stdout)[0]["return_value"]
    assert value["cwd"] == str(sandbox.app_dir), "the launch's working directory"
    assert value["env"] == "from the launching shell", "the launch's environment"
    assert not (elsewhere / "relative").exists()
