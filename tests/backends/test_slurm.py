"""`hydra/launcher=tsq_slurm` against the real one-node Slurm (the `slurm_cluster` fixture).

Each test launches a real sweep of the test app into Slurm and follows it with the CLI, as a user
would. Job names carry the session's tag, so the fixture cancels whatever a failing test leaves.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from eventually import eventually
from procs import alive
from slurm import SlurmCluster
from sweeps import Sandbox, by_num, debian_only

# Slurm is the queue here: the ts variant beside it changes nothing, so one is enough.
pytestmark = debian_only

TERMINAL = {"completed", "failed", "cancelled", "lost"}


@pytest.fixture
def box(tmp_path: Path, slurm_cluster: SlurmCluster, ts_socket: str) -> Sandbox:
    sandbox = Sandbox.create(tmp_path, ts_socket)
    sandbox.env["SLURM_CONF"] = str(slurm_cluster.conf)
    return sandbox


def launch(box: Sandbox, cluster: SlurmCluster, what: str, *overrides: str, check: bool = True):
    return box.run(
        [
            sys.executable, "app.py", "-m", "hydra/launcher=tsq_slurm",
            f"hydra.sweep.dir={box.root}/multirun/{what}",
            f"hydra.launcher.name={cluster.job_name(what)}",
            *overrides,
        ],
        check=check,
    )  # fmt: skip


def wait_for(box: Sandbox, predicate, what: str, timeout: float = 120) -> list[dict[str, Any]]:
    """Every job, from `status`, once `predicate` holds for them."""
    return eventually(
        box.status,
        what,
        until=lambda jobs: jobs and predicate(jobs),
        timeout=timeout,
        interval=0.3,
        max_interval=2.0,
    )


def terminal(jobs: list[dict[str, Any]]) -> bool:
    return all(job["state"] in TERMINAL for job in jobs)


def started(
    box: Sandbox, num: int, where: str = "*", timeout: float = 60, suffix: str = "started.json"
) -> dict[str, Any]:
    """A job's first attempt's `started` record, once there (`suffix`: another file of it,
    written as atomically)."""
    found = eventually(
        lambda: list(box.root.glob(f"multirun/{where}/.tsq/*/jobs/{num}.{suffix}")),
        f"job {num}'s {suffix}",
        timeout=timeout,
        interval=0.1,
    )
    return json.loads(found[0].read_text())


def test_launch_status_collect_with_every_kind_of_ending(
    box: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    """One array: a job that returns, one whose task raises, one that exits without a result
    (exit 3), one that is SIGKILLed. Status says how each ended; collect hands back results."""
    out = launch(box, slurm_cluster, "endings", "fail=false,true,exit")
    assert "queued 3 jobs of sweep" in out.stdout and "in Slurm" in out.stdout
    launch(box, slurm_cluster, "killed", "x=4", "sleep=60")
    record = started(box, 0, where="killed")
    assert "/slurm/" in record["stdout"] and record["stdout"].endswith("_0_log.out")
    os.kill(record["pid"], signal.SIGKILL)
    jobs = wait_for(box, terminal, "every job to end")
    ending = {j["num"]: j for j in jobs if j["overrides"][0].startswith("fail=")}
    killed = next(j for j in jobs if j["overrides"][0] == "x=4")
    assert {n: j["state"] for n, j in ending.items()} == {
        0: "completed", 1: "failed", 2: "failed",
    }  # fmt: skip
    assert len({j["queue_id"] for j in ending.values()}) == 1, "one array for the batch"
    assert "asked to fail" in ending[1]["reason"]
    assert ending[2]["exit_code"] == 3 and "without writing a result" in ending[2]["reason"]
    assert killed["state"] == "failed" and killed["signal"] == 9, killed["reason"]
    assert "killed by SIGKILL" in killed["reason"]
    jobs = by_num(list(ending.values()))
    collected = json.loads(box.tsq("collect", "--json", jobs[0]["sweep"], check=False).stdout)
    assert [c["return_value"]["x"] for c in collected if c["state"] == "completed"] == [1]
    logs = box.tsq("logs", f"{jobs[0]['sweep']}:0").stdout
    assert "output (stdout)" in logs and "job 0 running with x=1" in logs


def test_a_bad_option_is_one_line_and_nothing_is_recorded(
    box: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    bad = launch(box, slurm_cluster, "bad", "x=1,2", "hydra.launcher.partition=nope", check=False)
    assert bad.returncode != 0
    lines = [line for line in bad.stderr.splitlines() if line.startswith("tsq: ")]
    assert len(lines) == 1 and "Traceback" not in bad.stderr, bad.stderr
    assert "Slurm refuses these options" in lines[0] and "invalid partition" in lines[0]
    assert not box.store.exists(), "a refused launch makes no store"
    multi = launch(box, slurm_cluster, "multi", "x=1", "hydra.launcher.nodes=2", check=False)
    lines = [line for line in multi.stderr.splitlines() if line.startswith("tsq: ")]
    assert multi.returncode != 0 and len(lines) == 1 and "multi-task" in lines[0], multi.stderr


def test_cancel_scancel_and_retry(box: Sandbox, slurm_cluster: SlurmCluster) -> None:
    """Three jobs, one at a time (array_parallelism=1): `tsq cancel` of the running job and of
    a pending one, a plain scancel of the third; then `tsq retry` queues a new array of the
    chosen jobs, same numbers, and they complete."""
    launch(
        box, slurm_cluster, "cancel", "x=1,2,3", "sleep=120",
        "hydra.launcher.array_parallelism=1",
    )  # fmt: skip
    first = started(box, 0)
    sweep = box.status()[0]["sweep"]
    array = box.status()[0]["queue_id"]
    assert "marked cancelled" in box.tsq("cancel", f"{sweep}:0").stdout
    assert "marked cancelled" in box.tsq("cancel", f"{sweep}:1").stdout
    slurm_cluster.run("scancel", f"{array}_2")
    jobs = by_num(wait_for(box, terminal, "the cancelled jobs"))
    assert {n: j["state"] for n, j in jobs.items()} == {i: "cancelled" for i in range(3)}
    assert "cancelled in Slurm" in jobs[2]["reason"]
    assert not alive(first["pid"])

    box.tsq("retry", sweep, "0", "2")
    again = by_num(box.status())
    assert again[0]["queue_id"] == again[2]["queue_id"] != array
    # sleep=120 stays frozen in the spec: cancel the retries too, they only prove the array
    wait_for(box, lambda js: by_num(js)[2]["state"] in ("running", "queued"), "retry queued")
    box.tsq("cancel", sweep)
    jobs = by_num(wait_for(box, terminal, "the retried jobs"))
    assert jobs[0]["state"] == jobs[2]["state"] == "cancelled"


def test_pending_tasks_cancelled_by_hand_are_cancelled_not_lost(
    box: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    """Tasks held back by `array_parallelism` and cancelled in Slurm, by every form of scancel:
    a task, a range, `-t PENDING` (which empties the array's remainder). Slurm records none of
    them per task; each is `cancelled`, never `lost`, so `retry --cancelled` finds them."""
    launch(box, slurm_cluster, "scancel-pending", "x=1,2,3,4,5", "sleep=120",
           "hydra.launcher.array_parallelism=1")  # fmt: skip
    started(box, 0)
    array = box.status()[0]["queue_id"]
    why = "cancelled in Slurm (scancel) before it started"

    def ended(*nums: int):
        def check(jobs: list[dict[str, Any]]) -> bool:
            return all(by_num(jobs)[n]["state"] in TERMINAL for n in nums)

        return by_num(wait_for(box, check, f"jobs {nums} to end"))

    slurm_cluster.run("scancel", f"{array}_3")
    jobs = ended(3)
    assert (jobs[3]["state"], jobs[3]["reason"]) == ("cancelled", why), jobs[3]
    slurm_cluster.run("scancel", f"{array}_[1-2]")
    jobs = ended(1, 2)
    assert [(jobs[n]["state"], jobs[n]["reason"]) for n in (1, 2)] == [("cancelled", why)] * 2
    slurm_cluster.run("scancel", "-t", "PENDING", str(array))
    jobs = ended(4)
    assert jobs[4]["state"] == "cancelled" and "cancelled in Slurm" in jobs[4]["reason"]
    assert jobs[0]["state"] == "running"
    box.tsq("cancel", f"{jobs[0]['sweep']}:0")
    jobs = by_num(wait_for(box, terminal, "job 0 to end"))
    assert {n: j["state"] for n, j in jobs.items()} == {n: "cancelled" for n in range(5)}


def attempts(box: Sandbox) -> list[tuple[Any, ...]]:
    """Every earlier attempt, as `status --attempts` shows it: (num, attempt, state, reason,
    ts id)."""
    jobs = json.loads(box.tsq("status", "--attempts", "--json").stdout)
    return [
        (job["num"], a["attempt"], a["state"], a["reason"], a["queue_id"])
        for job in jobs
        for a in job["attempts"]
    ]


def requeued(cluster: SlurmCluster) -> str:
    """The reason of a run `scontrol requeue` ended: with accounting, the cause sacct gives
    (the earlier run's state); without, that Slurm ran it again."""
    cause = "REQUEUED: requeued" if cluster.accounting else "requeued or preempted"
    return f"Slurm ran it again ({cause}) before this run wrote a result"


def sacct_lists_the_requeue(cluster: SlurmCluster, task: str) -> bool:
    """sacct -D has the earlier run of a requeued task (slurmdbd hears of it a moment later);
    True at once without accounting."""
    if not cluster.accounting:
        return True
    runs = cluster.run("sacct", "-n", "-X", "-D", "-P", "-o", "State", "-j", task).stdout
    return "REQUEUED" in runs.split()


def test_a_requeued_job_goes_back_to_queued_its_run_kept_as_an_attempt(
    box: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    """`scontrol requeue` of a running job: it shows queued again as attempt 2 (Slurm holds it
    back for its credential lifetime, ~2 min here: the test moves its start time to now), then
    runs again and completes; the interrupted run is attempt 1, failed, saying why."""
    launch(box, slurm_cluster, "requeue", "x=1", "sleep=15")
    started(box, 0)  # its runner runs: Slurm has it RUNNING
    (job,) = wait_for(box, lambda js: js[0]["state"] == "running", "running")
    task = f"{job['queue_id']}_0"
    slurm_cluster.run("scontrol", "requeue", task)
    slurm_cluster.poll(
        "sacct to list the requeue", lambda: sacct_lists_the_requeue(slurm_cluster, task)
    )
    jobs = wait_for(box, lambda js: js[0]["attempt"] == 2, "the rerun")
    assert (jobs[0]["state"], jobs[0]["started_at"]) == ("queued", None), jobs[0]
    assert attempts(box) == [(0, 1, "failed", requeued(slurm_cluster), job["queue_id"])]
    slurm_cluster.run("scontrol", "update", f"JobId={job['queue_id']}_0", "StartTime=now+2")
    (done,) = wait_for(box, terminal, "the rerun to end")
    assert (done["state"], done["attempt"], done["queue_id"]) == ("completed", 2, job["queue_id"])
    assert "TRY" in box.tsq("status", done["sweep"]).stdout
    (result,) = json.loads(box.tsq("collect", "--json").stdout)
    assert result["state"] == "completed" and result["return_value"]["x"] == 1


def test_a_requeue_no_status_saw_is_found_from_slurms_restart_count(
    box: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    """No status runs between the requeue and the rerun's end: the restart count squeue, sacct
    and scontrol keep still make the rerun attempt 2, completed from its own result, and the
    first run attempt 1, never a false `failed` from the first run's missing result."""
    launch(box, slurm_cluster, "requeue-unseen", "x=1", "sleep=8")
    first = started(box, 0)
    array = slurm_cluster.run("squeue", "-h", "-o", "%F", "-n", slurm_cluster.job_name(
        "requeue-unseen")).stdout.split()[0]  # fmt: skip
    slurm_cluster.run("scontrol", "requeue", f"{array}_0")
    # The first run is being stopped (its state says so until it has been).
    eventually(
        lambda: slurm_cluster.run("squeue", "-h", "-o", "%T", "-j", f"{array}_0").stdout.split(),
        "the requeued job to go back to pending",
        until=lambda states: states == ["PENDING"],
        interval=0.2,
    )
    # Not `now`: a run started in the second of the requeue has its credential revoked
    # ("Killing non-startable batch job"), which is why Slurm holds requeued jobs back.
    slurm_cluster.run("scontrol", "update", f"JobId={array}_0", "StartTime=now+2")
    rerun = started(box, 0, suffix="2.started.json")
    assert rerun["pid"] != first["pid"]
    started(box, 0, suffix="2.json", timeout=120)  # the rerun's result
    (job,) = box.status()
    assert (job["state"], job["attempt"]) == ("completed", 2), job
    assert attempts(box) == [(0, 1, "failed", requeued(slurm_cluster), int(array))]


def test_depends_on_a_sweep_waits_for_it(box: Sandbox, slurm_cluster: SlurmCluster) -> None:
    launch(box, slurm_cluster, "first", "x=1", "sleep=4")
    first = box.status()[0]["sweep"]
    launch(box, slurm_cluster, "second", "x=2", f"hydra.launcher.depends_on=sweep:{first}")
    jobs = {j["sweep"]: j for j in wait_for(box, lambda js: len(js) == 2 and terminal(js), "both")}
    assert {j["state"] for j in jobs.values()} == {"completed"}
    ends = {s: j["ended_at"] for s, j in jobs.items()}
    second = next(s for s in jobs if s != first)
    assert jobs[second]["started_at"] >= ends[first] - 0.5


def test_submitit_folder_with_j_is_created_per_task(
    box: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    """hydra-submitit-launcher's default folder, written out: `%j` is the task's job id
    (`<array>_<num>`, as in submitit) and tsq creates each task's folder, which Slurm does not
    (jobs would fail at launch, 0:53). A task whose folder is gone when Slurm starts it fails
    saying Slurm could not launch it, in status and logs, not "killed by signal 53"."""
    launch(box, slurm_cluster, "folder", "x=1,2", "sleep=5",
           "hydra.launcher.submitit_folder=${hydra.sweep.dir}/.submitit/%j",
           "hydra.launcher.array_parallelism=1")  # fmt: skip
    first = started(box, 0, where="folder")
    array = box.status()[0]["queue_id"]
    root = box.root / "multirun" / "folder" / ".submitit"
    assert first["stdout"] == str(root / f"{array}_0" / f"{array}_0_log.out")
    (root / f"{array}_1").rmdir()  # task 1 waits behind the throttle: its folder goes
    jobs = by_num(wait_for(box, terminal, "both jobs"))
    assert jobs[0]["state"] == "completed", jobs[0]
    assert "job 0 running with x=1" in Path(first["stdout"]).read_text()
    assert jobs[1]["state"] == "failed" and jobs[1]["signal"] is None, jobs[1]
    assert "never started: Slurm could not launch it" in jobs[1]["reason"], jobs[1]
    logs = box.tsq("logs", f"{jobs[1]['sweep']}:1", check=False)
    assert "Slurm could not launch it" in logs.stderr and "signal 53" not in logs.stderr, logs


def test_cancel_of_many_tasks_is_one_scancel(box: Sandbox, slurm_cluster: SlurmCluster) -> None:
    """`tsq cancel` of a sweep of 30 tasks, 29 pending behind the throttle: one scancel call
    (a task range for the array), not one process a task. A wrapper first on PATH logs each
    call and runs the real scancel."""
    bin_dir = box.root / "bin"
    bin_dir.mkdir()
    calls = box.root / "scancel.log"
    real = shutil.which("scancel")
    wrapper = bin_dir / "scancel"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    box.env["PATH"] = f"{bin_dir}:{box.env['PATH']}"
    launch(box, slurm_cluster, "many", "x=range(30)", "sleep=120",
           "hydra.launcher.array_parallelism=1")  # fmt: skip
    started(box, 0, where="many")
    array = box.status()[0]["queue_id"]
    out = box.tsq("cancel", box.status()[0]["sweep"]).stdout
    assert "29 queued jobs removed from slurm, 1 running job stopped" in out, out
    assert calls.read_text().splitlines() == [f"{array}_[0-29]"]
    jobs = wait_for(box, terminal, "the cancelled jobs")
    assert {j["state"] for j in jobs} == {"cancelled"} and len(jobs) == 30


def _ts_rows(box: Sandbox) -> list[list[str]]:
    """Debian's `tsp -l` rows, split on whitespace (ID, State, Output, ...)."""
    return [line.split() for line in box.listing().splitlines()[1:] if line.strip()]


def test_a_ts_sweep_after_a_slurm_sweep_waits_through_a_controller_outage(
    box: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    """`depends_on=sweep:` from ts on a Slurm sweep: slurmctld stopped while the barrier
    watches. A queue that cannot be asked decides nothing: the barrier says so and waits on,
    and the dependent job starts only once the Slurm job has really ended (here: cancelled)."""
    launch(box, slurm_cluster, "outage-first", "x=1", "sleep=120")
    started(box, 0, where="outage-first")
    (first,) = box.status()
    box.sweep("x=2", f"hydra.launcher.depends_on=sweep:{first['sweep']}")
    (barrier,) = [row for row in _ts_rows(box) if f"/after-{first['sweep']}]" in " ".join(row)]

    def barrier_said(words: str) -> bool:
        out = box.tsp("-o", barrier[0]).stdout.strip()
        return Path(out).is_file() and words in Path(out).read_text()

    def dependent() -> str:
        (row,) = [row for row in _ts_rows(box) if f"[{barrier[0]}]&&" in " ".join(row)]
        return row[1]

    with slurm_cluster.controller_down():
        slurm_cluster.poll("the barrier to find Slurm unreachable",
                           lambda: barrier_said("could not ask Slurm"))  # fmt: skip
    slurm_cluster.poll(
        "the barrier to reach Slurm again (or to end)",
        lambda: barrier_said("answers again") or barrier_said("has ended"),
    )
    assert not barrier_said("has ended") and dependent() == "queued", box.listing()
    box.tsq("cancel", first["sweep"])
    jobs = {j["sweep"]: j for j in wait_for(box, lambda js: len(js) == 2 and terminal(js), "both")}
    second = next(j for s, j in jobs.items() if s != first["sweep"])
    assert (jobs[first["sweep"]]["state"], second["state"]) == ("cancelled", "completed")
    assert second["started_at"] >= jobs[first["sweep"]]["ended_at"] - 0.5


def test_the_time_limit_warns_then_stops_the_job(box: Sandbox, slurm_cluster: SlurmCluster) -> None:
    """`signal_delay_s`: SIGUSR2 before the time limit is noted in the job's log and the job runs
    on (SIGUSR2 would kill it by default) until Slurm stops it: failed, TIMEOUT. Slurm's
    shortest limit is a minute, so this test takes one."""
    launch(box, slurm_cluster, "timeout", "x=1", "sleep=300",
           "hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=50")  # fmt: skip
    jobs = wait_for(box, terminal, "the time limit", timeout=240)
    assert jobs[0]["state"] == "failed" and "TIMEOUT" in jobs[0]["reason"], jobs[0]
    logs = box.tsq("logs", f"{jobs[0]['sweep']}:0").stdout
    assert "tsq: Slurm sent SIGUSR2: the job's time limit is signal_delay_s away" in logs, logs


def test_a_sweep_larger_than_max_array_size_takes_several_arrays(
    box: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    """120 jobs on a cluster whose MaxArraySize is 50: three arrays, task ids below 50 (a
    job's number in the first, its offset from its array's first job in the others). Queued
    held; the last task of each array, released, runs the right job (its own x, its own
    output dir); one `tsq cancel` (one scancel) takes the other 117 out."""
    size = slurm_cluster.max_array_size
    assert size == 50, (
        f"this cluster's MaxArraySize is {size}; scripts/slurm.sh sets 50: restart it "
        "(bash scripts/slurm.sh stop; bash scripts/slurm.sh start --accounting)"
    )
    launch(box, slurm_cluster, "big", "x=range(120)",
           "++hydra.launcher.additional_parameters.hold=true")  # fmt: skip
    jobs = by_num(box.status())
    assert len(jobs) == 120 and {j["state"] for j in jobs.values()} == {"queued"}
    arrays = sorted({j["queue_id"] for j in jobs.values()})
    assert [sum(j["queue_id"] == a for j in jobs.values()) for a in arrays] == [50, 50, 20]
    assert [jobs[n]["queue_id"] for n in (0, 49, 50, 99, 100, 119)] == [
        arrays[0], arrays[0], arrays[1], arrays[1], arrays[2], arrays[2],
    ]  # fmt: skip
    for array, task in zip(arrays, (49, 49, 19), strict=True):
        slurm_cluster.run("scontrol", "release", f"{array}_{task}")
    ran = by_num(wait_for(
        box, lambda js: sum(j["state"] == "completed" for j in js) == 3, "the released tasks"
    ))  # fmt: skip
    assert [n for n, j in ran.items() if j["state"] == "completed"] == [49, 99, 119]
    sweep = ran[0]["sweep"]
    collected = json.loads(box.tsq("collect", "--json", sweep).stdout)
    assert {c["num"]: c["return_value"]["x"] for c in collected} == {49: 49, 99: 99, 119: 119}
    assert {Path(c["output_dir"]).name for c in collected} == {"49", "99", "119"}
    out = box.tsq("cancel", sweep).stdout
    assert "117 queued jobs removed from slurm" in out, out
    jobs = by_num(wait_for(box, terminal, "the cancelled jobs"))
    assert sum(j["state"] == "cancelled" for j in jobs.values()) == 117


def test_a_sweep_in_batches_queues_every_batch(box: Sandbox, slurm_cluster: SlurmCluster) -> None:
    """`hydra.sweeper.max_batch_size=45`: Hydra hands the launcher 55 jobs in two batches,
    numbered on from one to the next: the second (45-54) runs past MaxArraySize (50), so it
    takes two arrays (45-49, then 50-54 as tasks 0-4). Every job completes with its own x."""
    assert slurm_cluster.max_array_size == 50, "scripts/slurm.sh sets MaxArraySize=50"
    out = launch(box, slurm_cluster, "batches", "x=range(55)", "hydra.sweeper.max_batch_size=45")
    assert "Slurm refused" not in out.stderr, out.stderr
    jobs = by_num(wait_for(box, lambda js: len(js) == 55 and terminal(js), "every batch"))
    assert {j["state"] for j in jobs.values()} == {"completed"}, jobs
    assert len({j["queue_id"] for j in jobs.values()}) == 3
    collected = json.loads(box.tsq("collect", "--json", jobs[0]["sweep"]).stdout)
    assert sorted((c["num"], c["return_value"]["x"]) for c in collected) == [
        (n, n) for n in range(55)
    ]


def test_any_host_that_reaches_the_cluster_checks_cancels_and_retries(
    box: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    """A sweep launched on host a (TSQ_HOST=a) is checked, cancelled and retried from host b,
    which reaches the same cluster (the same ClusterName): Slurm's job ids belong to the
    cluster, not to the login node. b's retry is then cancelled from a."""
    a, b = box.as_host("a"), box.as_host("b")
    launch(a, slurm_cluster, "hosts", "x=1,2", "sleep=120", "hydra.launcher.array_parallelism=1")
    started(a, 0, where="hosts")
    status = b.tsq("status", "--all")
    assert "not checked from here" not in status.stderr, status.stderr
    assert "its unfinished jobs are checked in its queue" in status.stdout, status.stdout
    jobs = by_num(b.status())
    assert (jobs[0]["state"], jobs[1]["state"]) == ("running", "queued")
    sweep = jobs[0]["sweep"]
    out = b.tsq("cancel", sweep)
    assert "1 queued job removed from slurm, 1 running job stopped" in out.stdout, out
    jobs = by_num(wait_for(b, terminal, "the cancelled jobs"))
    assert {j["state"] for j in jobs.values()} == {"cancelled"}
    b.tsq("retry", sweep, "1")
    again = by_num(a.status())[1]
    assert again["attempt"] == 2 and again["state"] in ("queued", "running"), again
    assert again["host"] == "b" and again["queue_id"] != jobs[1]["queue_id"], again
    assert "marked cancelled" in a.tsq("cancel", f"{sweep}:1").stdout
    (retried,) = [j for j in wait_for(a, terminal, "the retry cancelled") if j["num"] == 1]
    assert retried["state"] == "cancelled"


def test_jobs_killed_or_timed_out_are_retried_by_cause(
    box: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    """`hydra.launcher.retry`: one task SIGKILLs itself, one outlives its time limit (Slurm's
    shortest is a minute, so this test takes one); each is queued again as soon as a refresh
    sees it end, as a new attempt in a new array, and completes. Status says why each first
    attempt ended."""
    flags = box.root / "flags"
    box.run([
        sys.executable, "dies.py", "-m", "hydra/launcher=tsq_slurm",
        f"hydra.sweep.dir={box.root}/multirun/bycause",
        f"hydra.launcher.name={slurm_cluster.job_name('bycause')}",
        f"+flags={flags}", "+how=kill,sleep", "hydra.launcher.timeout_min=1",
        "hydra.launcher.signal_delay_s=0", "hydra.launcher.retry.causes=[signal,timeout]",
    ])  # fmt: skip
    jobs = by_num(wait_for(box, terminal, "the retried jobs to end", timeout=300))
    shown = by_num(json.loads(box.tsq("status", "--attempts", "--json").stdout))
    ended = {n: [(a["attempt"], a["state"], a["cause"]) for a in shown[n]["attempts"]]
             for n in shown}  # fmt: skip
    assert ended == {0: [(1, "failed", "signal")], 1: [(1, "failed", "timeout")]}
    assert "TIMEOUT" in shown[1]["attempts"][0]["reason"]
    assert [(jobs[n]["state"], jobs[n]["attempt"]) for n in (0, 1)] == [("completed", 2)] * 2
    first_array = shown[0]["attempts"][0]["queue_id"]
    assert jobs[0]["queue_id"] != first_array and jobs[1]["queue_id"] != first_array
