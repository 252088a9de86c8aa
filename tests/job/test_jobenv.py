"""`tsq.job_env()` and the runner's records of a multi-task or requeued run, without a cluster:
Slurm's node lists, which variables make a rank, and how the refresh words a run that ended
without a result (the cluster tests: tests/test_slurm_tasks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsq.backends import QueueRow, RowState
from tsq.files.ending import Ending, read_ending
from tsq.jobenv import expand_hostlist, job_env
from tsq.refresh.decide import Observation, QueueFacts, decide, decide_rerun
from tsq.refresh.observe import RunFiles
from tsq.states import JobState
from tsq.store import Job


@pytest.mark.parametrize(
    ("hostlist", "hosts"),
    [
        ("localhost", ["localhost"]),
        ("n[1-3,5],gpu7", ["n1", "n2", "n3", "n5", "gpu7"]),
        ("n[08-10]", ["n08", "n09", "n10"]),
        ("r[1-2]-g[3,4]", ["r1-g3", "r1-g4", "r2-g3", "r2-g4"]),
        ("", []),
    ],
)
def test_slurm_node_lists_expand_as_scontrol_show_hostnames(
    hostlist: str, hosts: list[str]
) -> None:
    assert expand_hostlist(hostlist) == hosts


SRUN_TASK = {
    "TSQ_QUEUE": "slurm", "TSQ_ATTEMPT": "3", "TSQ_RESTART": "2", "TSQ_JOB_NUM": "4",
    "TSQ_JOB_ID": "77_4", "SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NTASKS": "8",
    "SLURM_NODEID": "1", "SLURM_JOB_NUM_NODES": "2", "SLURM_JOB_NODELIST": "n[1-2]",
}  # fmt: skip


def test_a_task_under_srun_knows_its_rank_and_that_it_resumes() -> None:
    env = job_env(SRUN_TASK)
    assert (env.rank, env.local_rank, env.world_size, env.node, env.num_nodes) == (5, 1, 8, 1, 2)
    assert (env.hostnames, env.master_addr, env.job_id, env.num) == (("n1", "n2"), "n1", "77_4", 4)
    assert (env.attempt, env.restart, env.resumed) == (3, 2, True)


def test_slurm_variables_tsq_did_not_start_a_task_with_make_no_rank() -> None:
    """A ts job queued from inside a Slurm allocation inherits its SLURM_*: still one task."""
    inherited = {k: v for k, v in SRUN_TASK.items() if k != "TSQ_QUEUE"} | {"TSQ_ATTEMPT": "1"}
    env = job_env(inherited)
    assert (env.rank, env.world_size, env.num_nodes, env.resumed) == (0, 1, 1, False)
    with pytest.raises(RuntimeError, match=r"tsq\.job_env"):
        job_env({})


def test_the_first_ending_written_stays(tmp_path: Path) -> None:
    path = tmp_path / "0.ending.json"
    assert Ending("rank 1 of 2 failed: ValueError: x").write_first(path)
    assert not Ending("rank 0 of 2 failed: later").write_first(path)
    assert read_ending(path) == Ending("rank 1 of 2 failed: ValueError: x")
    assert [p.name for p in tmp_path.iterdir()] == ["0.ending.json"]


JOB = Job(id=1, num=0, attempt=1, version=0, overrides=[], label="a/b/0", queue_id=9,
          state=JobState.RUNNING)  # fmt: skip
FACTS = QueueFacts("slurm", "Slurm", "Slurm cluster tsq", "forgotten")


def test_a_run_without_result_ends_for_the_reason_its_runner_noted() -> None:
    """A rank that failed while Slurm stopped rank 0 before the job's result: its error is the
    job's reason, not srun's exit code; a run tsq requeued at its time limit says so."""
    row = QueueRow(queue_id=9, task=0, label=None, state=RowState.ENDED, exit_code=1)
    noted = Ending("rank 1 of 2 failed: ValueError: rank 1 asked to fail")
    update = decide(JOB, Observation(queue=FACTS, row=row, ending=noted))
    assert update is not None and update.state is JobState.FAILED
    assert update.reason == "rank 1 of 2 failed: ValueError: rank 1 asked to fail"
    plain = decide(JOB, Observation(queue=FACTS, row=row))
    assert plain is not None and plain.reason == "exited with code 1 without writing a result"

    why = "reached its time limit: requeued by tsq (timeout 1 of max_num_timeout=2)"
    rerun = decide_rerun(JOB, "Slurm", [RunFiles(ending=Ending(why, timeouts=1))], ["REQUEUED"])
    assert [ended.reason for ended in rerun.ended] == [why]
