"""What submitit_slurm runs, under tsq_slurm, on the real one-node Slurm: jobs of several tasks
(`tasks_per_node`), the task's environment (`submitit.JobEnvironment()`, `hydra.job.id`, an
srun step's `SLURM_*`), a job requeued at its time limit (`max_num_timeout`), and the same
sweep under submitit_slurm and tsq_slurm side by side.

The app is `tests/apps/distributed.py`: every rank leaves what it sees in `rank<r>.json` in the
job's output dir. `nodes=2` needs two slurmd nodes, which this cluster has not (README: it
was run by hand on two).
"""

from __future__ import annotations

import json
import pickle
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from eventually import eventually
from slurm import SlurmCluster, attempts, terminal, wait_for
from sweeps import Sandbox, by_num

pytestmark = pytest.mark.parametrize("ts_variant", ["debian"])

APP = "distributed.py"


def run_sweep(
    box: Sandbox, cluster: SlurmCluster, launcher: str, what: str, *overrides: str
) -> Path:
    """The sweep `what` of the app under `launcher` (submitit_slurm blocks until it ends); its
    sweep dir. Only the launcher's name differs between the two launchers' command lines."""
    sweep_dir = box.root / "multirun" / what
    box.run(
        [
            sys.executable, APP, "-m", f"hydra/launcher={launcher}",
            f"hydra.sweep.dir={sweep_dir}", f"hydra.launcher.name={cluster.job_name(what)}",
            *overrides,
        ],
        timeout=600,
    )  # fmt: skip
    return sweep_dir


def seen(job_dir: Path, rank: int) -> dict[str, Any]:
    return json.loads((job_dir / f"rank{rank}.json").read_text())


def test_two_tasks_per_job_rank_0_returns_and_a_failing_rank_fails_the_job(
    slurm_box: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    box = slurm_box
    """tasks_per_node=2: both ranks run (srun: one step, two tasks, each knowing its rank), the
    job returns rank 0's value; a job whose rank 1 raises (3 s after rank 0 has returned) fails
    with rank 1's exception, one whose rank 0 raises with rank 0's; one whose rank 1 is
    SIGKILLed fails too; logs and `started` records tell the ranks apart."""
    sweep_dir = run_sweep(
        box, slurm_cluster, "tsq_slurm", "ranks", "fail_rank=-1,1,0", "fail_after=3", "x=7",
        "hydra.launcher.tasks_per_node=2",
    )  # fmt: skip
    run_sweep(
        box, slurm_cluster, "tsq_slurm", "killed", "fail_rank=1", "fail_how=kill",
        "hydra.launcher.tasks_per_node=2",
    )  # fmt: skip
    every = wait_for(box, terminal, "every job to end")
    (killed,) = [job for job in every if "fail_how=kill" in job["overrides"]]
    assert killed["state"] == "failed" and "killed by" in killed["reason"], killed
    jobs = by_num([job for job in every if job["sweep"] != killed["sweep"]])
    array = jobs[0]["queue_id"]
    assert jobs[0]["state"] == "completed", jobs[0]
    assert jobs[1]["state"] == "failed" and jobs[1]["reason"] == "ValueError: rank 1 asked to fail"
    assert jobs[2]["state"] == "failed" and jobs[2]["reason"] == "ValueError: rank 0 asked to fail"
    collected = by_num(
        json.loads(box.tsq("collect", "--json", jobs[0]["sweep"], check=False).stdout)
    )
    assert collected[0]["return_value"] == {"rank": 0, "x": 7, "world": 2}
    assert collected[1]["error"] == "ValueError: rank 1 asked to fail"
    assert collected[2]["error"] == "ValueError: rank 0 asked to fail"

    for num in (0, 1):
        for rank in (0, 1):
            ran = seen(sweep_dir / str(num), rank)
            assert ran["tsq"] == {
                "job_id": f"{array}_{num}", "rank": rank, "local_rank": rank, "world_size": 2,
                "node": 0, "num_nodes": 1, "hostnames": ["localhost"], "attempt": 1,
                "resumed": False,
            }  # fmt: skip
            assert ran["submitit"] == {
                "job_id": f"{array}_{num}", "global_rank": rank, "local_rank": rank,
                "num_tasks": 2, "num_nodes": 1, "node": 0, "hostnames": ["localhost"],
            }  # fmt: skip
            assert ran["hydra_job"]["id"] == f"{array}_{num}"
            assert {"SLURM_STEP_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS"} <= set(
                ran["slurm_vars"]
            )
    logs = box.tsq("logs", f"{jobs[0]['sweep']}:0").stdout
    assert "rank 0 output (stdout): " in logs and f"{array}_0_0_log.out" in logs, logs
    assert "rank 1 output (stdout): " in logs and f"{array}_0_1_log.out" in logs, logs
    rank1 = json.loads(next(sweep_dir.glob(".tsq/*/jobs/0.rank1.started.json")).read_text())
    assert (rank1["rank"], rank1["ranks"]) == (1, 2)


def nudge_requeued(cluster: SlurmCluster, task: str) -> None:
    """Start a requeued run now: Slurm holds a requeued job back for its credential lifetime
    (~2 min here, see test_slurm's requeue tests), which would only make this test longer."""
    listed = cluster.run("squeue", "-h", "-o", "%T %r", "-j", task, check=False).stdout.split()
    if listed[:2] == ["PENDING", "BeginTime"]:
        cluster.run("scontrol", "update", f"JobId={task}", "StartTime=now+2", check=False)


def test_a_job_at_its_time_limit_is_requeued_and_resumes_from_its_checkpoint(
    slurm_box: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    box = slurm_box
    """timeout_min=1, max_num_timeout=2: a task needing 75 s of work, checkpointing every 3 s,
    is requeued by tsq when SIGUSR2 comes (signal_delay_s=30: 30-60 s into each run), resumes
    from its checkpoint in the same output dir, and completes on a later attempt; `status
    --attempts` says why each earlier run ended. Slurm's shortest time limit is a minute, so
    this test takes two to three."""
    sweep_dir = run_sweep(
        box, slurm_cluster, "tsq_slurm", "requeue", "work=75",
        "hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=30",
        "hydra.launcher.max_num_timeout=2",
    )  # fmt: skip
    (job,) = wait_for(box, lambda js: js[0]["queue_id"] is not None, "the job to be queued")
    task = f"{job['queue_id']}_0"

    def ended() -> list[dict[str, Any]]:
        nudge_requeued(slurm_cluster, task)
        return box.status()

    (done,) = eventually(ended, "the job to complete", until=terminal, timeout=600, interval=2)
    assert done["state"] == "completed", done
    assert done["attempt"] in (2, 3) and done["queue_id"] == job["queue_id"], done
    (result,) = json.loads(box.tsq("collect", "--json").stdout)
    assert result["return_value"]["done"] == 75 and result["return_value"]["resumed_at"] > 0
    assert result["output_dir"] == str(sweep_dir / "0")
    assert seen(sweep_dir / "0", 0)["tsq"]["resumed"] is True  # the last run's view
    earlier = attempts(box)
    assert [a[1] for a in earlier] == list(range(1, done["attempt"]))
    for num, attempt, state, reason, queue_id in earlier:
        assert (num, state, queue_id) == (0, "failed", job["queue_id"])
        assert reason == (
            f"reached its time limit: requeued by tsq (timeout {attempt} of max_num_timeout=2)"
        )
    text = box.tsq("status", "--attempts", done["sweep"]).stdout
    assert "requeued by tsq (timeout 1 of max_num_timeout=2)" in text, text


def submitit_return(sweep_dir: Path, num: int) -> Any:
    """What submitit_slurm's job `num` returned (rank 0's result pickle: ("success", JobReturn))."""
    (path,) = sweep_dir.glob(f".submitit/*_{num}/*_{num}_0_result.pkl")
    outcome, job_return = pickle.loads(path.read_bytes())
    assert outcome == "success", job_return
    return job_return.return_value


def test_the_same_sweep_under_submitit_slurm_and_tsq_slurm(
    slurm_box: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    box = slurm_box
    """The drop-in promise, as a test: the same overrides but the launcher's name give the same
    return values, output dirs, `hydra.job.*` (the id: Slurm's `<array id>_<task>` under both)
    and the same view of the job from each task (submitit's JobEnvironment, SLURM_* names)."""
    sweeps = {
        launcher: run_sweep(
            box,
            slurm_cluster,
            launcher,
            f"same-{launcher}",
            "x=1,2",
            "hydra.launcher.tasks_per_node=2",
            "hydra.launcher.timeout_min=5",
        )
        for launcher in ("submitit_slurm", "tsq_slurm")
    }
    wait_for(box, terminal, "tsq_slurm's jobs to end")
    tsq_returns = by_num(json.loads(box.tsq("collect", "--json").stdout))
    for num in (0, 1):
        theirs = submitit_return(sweeps["submitit_slurm"], num)
        assert tsq_returns[num]["return_value"] == theirs == {"rank": 0, "x": num + 1, "world": 2}
        assert tsq_returns[num]["output_dir"] == str(sweeps["tsq_slurm"] / str(num))
        for rank in (0, 1):
            a = seen(sweeps["submitit_slurm"] / str(num), rank)
            b = seen(sweeps["tsq_slurm"] / str(num), rank)
            for view in (a, b):
                assert re.fullmatch(rf"\d+_{num}", view["hydra_job"]["id"]), view
                assert view["submitit"]["job_id"] == view["hydra_job"]["id"]
                assert Path(view["output_dir"]).name == str(num)
            assert {**a["hydra_job"], "id": None} == {**b["hydra_job"], "id": None}
            assert {**a["submitit"], "job_id": None} == {**b["submitit"], "job_id": None}
            assert set(a["slurm_vars"]) == set(b["slurm_vars"]), set(a["slurm_vars"]) ^ set(
                b["slurm_vars"]
            )
