"""What cannot run is refused up front: one line, nothing queued in ts, nothing recorded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from sweeps import Sandbox, refusal, sweep_ids, ts_labels

from tsq.backends.tslist import parse_slots

# --- slots the ts server does not have ---


def test_parse_slots_reads_what_ts_dash_S_prints() -> None:
    # captured from /usr/bin/tsp (Debian 1.0.1): a fresh server, then after `tsp -S 3`
    assert parse_slots("1\n") == 1
    assert parse_slots("3\n") == 3
    # what `tsp -S 0` prints instead of a count (and any text that is not a count)
    assert parse_slots("You should set at minimum 1 slot.\n") is None
    assert parse_slots("") is None


def test_more_slots_than_the_server_has_are_refused_up_front(sandbox: Sandbox) -> None:
    proc = sandbox.sweep("x=1,2", "hydra.launcher.slots=3", check=False)
    refusal(proc, "slots=3", "has 2", f"TS_SOCKET={sandbox.socket}", "-S 3", "TS_SLOTS=3")
    assert sweep_ids(sandbox) == [] and ts_labels(sandbox) == []
    assert not (sandbox.root / "multirun").exists(), "not even a sweep dir"


def test_a_launch_counts_the_slots_of_the_server_it_starts(sandbox: Sandbox) -> None:
    """With no server running, the launch's own ts call starts one, with TS_SLOTS (else 1)
    slots: the count that decides is that server's, where the jobs would have gone."""
    sandbox.env.pop("TS_SLOTS", None)
    sandbox.kill_server()
    refusal(sandbox.sweep("x=1", "hydra.launcher.slots=2", check=False), "has 1")
    assert sweep_ids(sandbox) == [] and ts_labels(sandbox) == []
    sandbox.kill_server()
    sandbox.sweep("x=1", "hydra.launcher.slots=2", env={"TS_SLOTS": "2"})
    (job,) = sandbox.wait_terminal()
    assert job["state"] == "completed"


def failed_two_slot_job_on_a_one_slot_server(sandbox: Sandbox) -> dict[str, Any]:
    sandbox.sweep("x=1", "fail=true", "hydra.launcher.slots=2")
    (job,) = sandbox.wait_terminal()
    assert job["state"] == "failed"
    sandbox.tsp("-S", "1")
    return job


def test_retry_refuses_slots_the_server_no_longer_has(sandbox: Sandbox) -> None:
    job = failed_two_slot_job_on_a_one_slot_server(sandbox)
    labels = ts_labels(sandbox)
    proc = sandbox.tsq("retry", job["sweep"], check=False)
    assert proc.returncode == 2
    refusal(proc, "slots=2", "has 1", "-S 2")
    assert ts_labels(sandbox) == labels, "nothing queued"


def test_a_refused_retry_records_no_attempt(sandbox: Sandbox) -> None:
    job = failed_two_slot_job_on_a_one_slot_server(sandbox)
    sandbox.tsq("retry", job["sweep"], check=False)
    (after,) = sandbox.status()
    assert (after["attempt"], after["state"]) == (1, "failed")


# --- one sweep dir, one sweep ---


def test_a_second_sweep_into_a_used_sweep_dir_is_refused(sandbox: Sandbox) -> None:
    shared = sandbox.root / "multirun" / "same-second"
    blocker = sandbox.block_queue()  # the first sweep's jobs stay queued: it is in use
    sandbox.sweep("x=1,2", f"hydra.sweep.dir={shared}")
    (first,) = sweep_ids(sandbox)
    multirun_yaml = (shared / "multirun.yaml").read_text()
    labels = ts_labels(sandbox)
    proc = sandbox.sweep("x=3", f"hydra.sweep.dir={shared}", check=False)
    refusal(proc, str(shared), f"tsq sweep {first}", "hydra.sweep.dir=", "%f")
    assert sweep_ids(sandbox) == [first], "nothing recorded"
    assert ts_labels(sandbox) == labels, "nothing queued"
    assert (shared / "multirun.yaml").read_text() == multirun_yaml, "the first sweep's file"
    sandbox.release(blocker)
    jobs = sandbox.wait_terminal()
    assert [(j["overrides"], j["state"]) for j in jobs] == [
        (["x=1"], "completed"),
        (["x=2"], "completed"),
    ]
    assert sorted(p.name for p in (shared / ".tsq").iterdir()) == [first]


def test_a_sweep_dir_whose_sweeps_have_ended_is_used_again(sandbox: Sandbox) -> None:
    """As with Hydra's own launchers, running a sweep into a fixed dir once more works once
    the earlier one has ended (it overwrites that sweep's job dirs, as they would)."""
    fixed = sandbox.root / "multirun" / "fixed"
    sandbox.sweep("x=1", f"hydra.sweep.dir={fixed}")
    (first,) = sweep_ids(sandbox)
    sandbox.wait_terminal()
    sandbox.sweep("x=2", f"hydra.sweep.dir={fixed}")
    second = [s for s in sweep_ids(sandbox) if s != first]
    assert len(second) == 1
    jobs = {j["sweep"]: j for j in sandbox.wait_terminal()}
    assert jobs[second[0]]["state"] == "completed"
    assert jobs[first]["state"] == "completed", "the first one's record is untouched"


def test_two_sweeps_launched_at_once_into_one_dir_one_is_refused(sandbox: Sandbox) -> None:
    shared = sandbox.root / "multirun" / "same-second"
    blocker = sandbox.block_queue()
    argv = [sys.executable, "app.py", "-m", "hydra/launcher=ts", f"hydra.sweep.dir={shared}"]
    procs = [
        subprocess.Popen(
            [*argv, f"x={x}"],
            cwd=sandbox.app_dir,
            env=sandbox.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for x in (1, 2)
    ]
    outcomes = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        outcomes.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    assert sorted(proc.returncode for proc in outcomes) == [0, 1], outcomes
    (winner,) = sweep_ids(sandbox)
    (refused,) = [proc for proc in outcomes if proc.returncode != 0]
    refusal(refused, f"tsq sweep {winner}")
    assert ts_labels(sandbox) == [f"app/{winner}/0", "blocker"]
    sandbox.release(blocker)
    (job,) = [j for j in sandbox.wait_terminal() if j["sweep"] == winner]
    assert job["state"] == "completed"


def test_a_launch_that_fails_gives_its_sweep_dir_back(sandbox: Sandbox) -> None:
    """The sweeper refuses a job it cannot compose after the launcher claimed the dir; the
    corrected relaunch into the same dir must not be refused for it."""
    shared = sandbox.root / "multirun" / "fixed-name"
    bad = sandbox.sweep("db=sqlite,no_such_db", f"hydra.sweep.dir={shared}", check=False)
    assert bad.returncode == 1 and "no_such_db" in bad.stderr
    assert sweep_ids(sandbox) == [] and ts_labels(sandbox) == []
    assert list((shared / ".tsq").iterdir()) == [], "its spool dir is gone"
    sandbox.sweep("db=sqlite", f"hydra.sweep.dir={shared}")
    assert [j["state"] for j in sandbox.wait_terminal()] == ["completed"]


def test_a_sweep_dir_holding_another_launchers_run_is_used(sandbox: Sandbox) -> None:
    """Like Hydra's own launchers, tsq writes into a sweep dir that holds no tsq sweep."""
    shared = sandbox.root / "multirun" / "reused"
    sandbox.run([sys.executable, "app.py", "-m", f"hydra.sweep.dir={shared}", "x=1"])
    assert (shared / "0" / ".hydra").is_dir()
    sandbox.sweep("x=2", f"hydra.sweep.dir={shared}")
    (job,) = sandbox.wait_terminal()
    assert job["state"] == "completed" and Path(job["output_dir"]) == shared / "0"
