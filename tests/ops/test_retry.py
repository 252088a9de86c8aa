"""`tsq retry`: ended jobs queued again as new attempts; every attempt is kept."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

from eventually import eventually
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
    assert jobs[1]["queue_id"] != first[1]["queue_id"]
    results = {r["num"]: r for r in json.loads(sandbox.tsq("collect", "--json").stdout)}
    assert results[1]["return_value"]["num"] == 1, "the latest attempt's result"
    assert results[1]["return_value"]["env"] == "from the launch", "queued the same way"
    with sqlite3.connect(sandbox.store) as db:
        history = db.execute(
            "SELECT j.num, a.number, a.state, a.reason, a.queue_id FROM attempts a"
            " JOIN jobs j ON j.id = a.job_id ORDER BY j.num"
        ).fetchall()
    assert history == [
        (1, 1, "failed", "RuntimeError: the first attempt fails", first[1]["queue_id"]),
        (3, 1, "failed", "RuntimeError: the first attempt fails", first[3]["queue_id"]),
    ]
    assert "TRY" in sandbox.tsq("status", sweep).stdout
    shown = by_num(json.loads(sandbox.tsq("status", sweep, "--attempts", "--json").stdout))
    assert [(a["attempt"], a["state"], a["queue_id"]) for a in shown[1]["attempts"]] == [
        (1, "failed", first[1]["queue_id"])
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


def test_a_retry_writes_where_the_first_attempt_did_though_its_subdir_names_the_time(
    sandbox: Sandbox,
) -> None:
    """Hydra resolves `hydra.sweep.subdir` when the job runs: a `${now:...}` in it would send
    a retry run a second later to a new dir, away from the first attempt's outputs. (Not
    `${now:%H-%M-%S}`: Hydra's run dir resolved that one at launch, and the job's config keeps
    the value; any other pattern is resolved anew.)"""
    fixed, flags = sandbox.root / "timed", sandbox.root / "flags"
    sandbox.run([sys.executable, "app.py", "-m", "hydra/launcher=ts", "x=1", "fail=once",
                 f"marker_dir={flags}", f"hydra.sweep.dir={fixed}",
                 "hydra.sweep.subdir=${now:%H%M%S}_${hydra.job.num}"])  # fmt: skip
    first = sandbox.wait_terminal()[0]
    assert first["state"] == "failed"
    stamp = Path(first["output_dir"]).name.removesuffix("_0")
    # The retry runs in a later second.
    eventually(lambda: time.strftime("%H%M%S") != stamp, "the clock to pass " + stamp, timeout=5)
    sandbox.tsq("retry", first["sweep"])
    job = sandbox.wait_terminal()[0]
    assert (job["state"], job["attempt"]) == ("completed", 2)
    assert job["output_dir"] == first["output_dir"]
    assert sorted(p.name for p in fixed.iterdir()) == [".tsq", f"{stamp}_0", "multirun.yaml"]
    value = json.loads(sandbox.tsq("collect", "--json").stdout)[0]["return_value"]
    assert value["num"] == 0


def test_a_retry_into_a_sweep_dir_another_sweep_now_uses_is_refused(sandbox: Sandbox) -> None:
    """Sweep A ended; B now runs into the same dir: A's job 0 and B's would both write
    `<dir>/0`. Refused as a launch would be, naming B, before anything is queued."""
    shared, flags = sandbox.root / "multirun" / "shared", sandbox.root / "flags"
    sandbox.sweep("x=1", "fail=once", f"marker_dir={flags}", f"hydra.sweep.dir={shared}")
    (a,) = sandbox.wait_terminal()
    assert a["state"] == "failed"
    blocker = sandbox.block_queue()
    sandbox.sweep("x=2", f"hydra.sweep.dir={shared}")
    b = next(j for j in sandbox.status() if j["sweep"] != a["sweep"])
    listing = sandbox.tsp("-l").stdout
    proc = sandbox.tsq("retry", a["sweep"], check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr == (
        f"tsq: the sweep dir {shared} is in use by tsq sweep {b['sweep']}, which is being "
        f"launched or has jobs queued or running; retry once it has ended (tsq wait "
        f"{b['sweep']}): its jobs write there too\n"
    )
    assert sandbox.tsp("-l").stdout == listing, "nothing queued"
    again = by_num(sandbox.status(a["sweep"]))[0]
    assert (again["state"], again["attempt"]) == ("failed", 1), "nothing recorded"
    sandbox.release(blocker)
    jobs = {j["sweep"]: j for j in sandbox.wait_terminal()}
    assert jobs[b["sweep"]]["state"] == "completed"
    assert jobs[b["sweep"]]["output_dir"] == str(shared / "0")
    sandbox.tsq("retry", a["sweep"])  # B has ended: the dir is A's to use again
    jobs = {j["sweep"]: j for j in sandbox.wait_terminal()}
    assert (jobs[a["sweep"]]["state"], jobs[a["sweep"]]["attempt"]) == ("completed", 2)


def test_a_retry_racing_a_launch_into_its_dir_has_one_winner(sandbox: Sandbox) -> None:
    """The retry's check and claim are made under the launch's lock: of the two, exactly one
    queues into the dir, and the other is refused naming it."""
    shared, flags = sandbox.root / "multirun" / "raced", sandbox.root / "flags"
    sandbox.sweep("x=1", "fail=once", f"marker_dir={flags}", f"hydra.sweep.dir={shared}")
    (a,) = sandbox.wait_terminal()
    blocker = sandbox.block_queue()
    argvs = [
        [sys.executable, "-m", "tsq", "retry", a["sweep"]],
        [sys.executable, "app.py", "-m", "hydra/launcher=ts", "x=2", f"hydra.sweep.dir={shared}"],
    ]
    procs = [subprocess.Popen(argv, cwd=sandbox.app_dir, env=sandbox.env, text=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for argv in argvs]  # fmt: skip
    outcomes = [(proc.communicate(timeout=120)[1], proc.returncode) for proc in procs]
    assert sorted(code != 0 for _, code in outcomes) == [False, True], outcomes
    jobs = sandbox.status()
    active = [j for j in jobs if j["state"] == "queued"]
    assert len(active) == 1, jobs
    (refused,) = [err for err, code in outcomes if code != 0]
    assert f"is in use by tsq sweep {active[0]['sweep']}" in refused
    sandbox.release(blocker)
    assert {j["state"] for j in sandbox.wait_terminal()} == {"completed"}


SECRETIVE = '''
"""Returns a digest of the secret it was passed, never the secret; fails on its first run."""
import hashlib
import os
from pathlib import Path

import hydra


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    token = os.environ.get("TSQ_TEST_TOKEN", "")
    flag = Path(__file__).parent / f"ran_{cfg.x}"
    if not flag.exists():
        flag.touch()
        raise RuntimeError("the first attempt fails")
    return hashlib.sha256(token.encode()).hexdigest()


if __name__ == "__main__":
    main()
'''


def test_env_pass_keeps_a_secret_out_of_every_file_and_retries_pass_it(sandbox: Sandbox) -> None:
    """A token passed with `hydra.launcher.env_pass` reaches the job, first attempt and retry,
    and its value is in no file of the sweep dir (Hydra's multirun.yaml and .hydra/, tsq's
    spec, results, logs) or of the store. A launch or retry from a shell without it is refused
    in one line, before anything is queued."""
    import hashlib

    secret = "tok-" + uuid.uuid4().hex
    (sandbox.app_dir / "secretive.py").write_text(SECRETIVE)
    passing = ("+x=1,2", "hydra.launcher.env_pass=[TSQ_TEST_TOKEN]")
    refused = sandbox.sweep(*passing, script="secretive.py", check=False)
    assert refused.returncode != 0
    assert "TSQ_TEST_TOKEN (hydra.launcher.env_pass) is not set in this shell" in refused.stderr
    assert sandbox.tsp("-l").stdout.count("\n") <= 1, "nothing queued"

    sandbox.sweep(*passing, script="secretive.py", env={"TSQ_TEST_TOKEN": secret})
    jobs = by_num(sandbox.wait_terminal())
    assert [jobs[n]["state"] for n in (0, 1)] == ["failed", "failed"]
    sweep = jobs[0]["sweep"]
    proc = sandbox.tsq("retry", sweep, "--failed", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().endswith(
        "TSQ_TEST_TOKEN (hydra.launcher.env_pass) is not set in this shell: the jobs take it "
        "from the shell that queues them (it is never written down); export it and run tsq "
        "retry again"
    )
    assert len(proc.stderr.strip().splitlines()) == 1
    sandbox.run([sys.executable, "-m", "tsq", "retry", sweep, "--failed"],
                env={"TSQ_TEST_TOKEN": secret})  # fmt: skip
    jobs = by_num(sandbox.wait_terminal())
    assert [(jobs[n]["state"], jobs[n]["attempt"]) for n in (0, 1)] == [("completed", 2)] * 2
    digest = hashlib.sha256(secret.encode()).hexdigest()
    results = json.loads(sandbox.tsq("collect", sweep, "--json").stdout)
    assert [r["return_value"] for r in results] == [digest, digest], "the job saw the secret"

    files = [
        path
        for root in (sandbox.root / "multirun", sandbox.store.parent)
        for path in root.rglob("*")
        if path.is_file()
    ]
    assert any(path.name == "multirun.yaml" for path in files)
    assert any(path.name.endswith(".spec") or "spec" in path.name for path in files), files
    holding = [str(path) for path in files if secret.encode() in path.read_bytes()]
    assert holding == []
    assert any(b"TSQ_TEST_TOKEN" in path.read_bytes() for path in files), "the name is kept"
