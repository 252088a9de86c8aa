"""The Slurm backend's pure parts: array specs, sbatch scripts, and how every Slurm state (from
the real samples in tests/data/slurm-samples/) becomes a queue row the refresh understands."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tsq.backends import JobRef, QueueRow, RowState
from tsq.backends.slurm import (
    SlurmBackend,
    SlurmQueue,
    batch_script,
    directives,
    queue_row,
    refusal,
    scancel_targets,
    split_arrays,
    task_ranges,
)
from tsq.backends.slurmlist import (
    STATE_MEANINGS,
    ExitStatus,
    Phase,
    SlurmState,
    judge,
    last_runs,
    parse_sacct,
    parse_squeue,
)
from tsq.files.labels import array_name

SAMPLES = Path(__file__).parents[1] / "data" / "slurm-samples"


def test_a_batch_takes_as_many_arrays_as_max_array_size_needs() -> None:
    """Task ids stay below MaxArraySize (50 here): the job's number in the first array, its
    offset from the array's first job in the others, whatever numbers a retry picks."""
    arrays = split_arrays(range(120), 50)
    assert [(offset, nums[0], nums[-1]) for offset, nums in arrays] == [
        (0, 0, 49), (50, 50, 99), (100, 100, 119),
    ]  # fmt: skip
    assert split_arrays([200, 3, 70, 71, 119, 120], 50) == [
        (0, [3]), (70, [70, 71, 119]), (120, [120]), (200, [200]),
    ]  # fmt: skip
    for offset, nums in split_arrays([0, 5, 1500, 1501, 2999, 3000], 1001):
        assert all(0 <= num - offset < 1001 for num in nums)


def test_task_ranges_collapse() -> None:
    assert task_ranges([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert task_ranges([3]) == "3"
    assert task_ranges([4, 2, 3, 3]) == "2-4"


def test_scancel_targets_one_argument_per_array() -> None:
    rows = [
        QueueRow(queue_id=7, label=None, state=RowState.QUEUED, task=t) for t in (5, 0, 1, 2, 7)
    ] + [
        QueueRow(queue_id=3, label=None, state=RowState.RUNNING, task=4),
        QueueRow(queue_id=9, label=None, state=RowState.QUEUED),
    ]
    assert scancel_targets(rows) == ["3_[4]", "7_[0-2,5,7]", "9"]


def test_job_name_finds_an_unrecorded_attempt() -> None:
    assert array_name("app/abc/3", 1) == "app/abc"
    assert array_name("app/abc/3#2", 2) == "app/abc#2"


def test_submitit_options_become_sbatch_directives() -> None:
    opts = directives(
        {
            "timeout_min": 10, "mem_gb": 4, "cpus_per_task": 2, "partition": "gpu",
            "gpus_per_node": None, "additional_parameters": {"mail_type": "END", "exclusive": True},
        },
        "app/abc", "/o/%A_%a.out", None,
    )  # fmt: skip
    assert opts == [
        "--job-name=app/abc", "--output=/o/%A_%a.out", "--open-mode=append", "--time=10",
        "--mem=4GB", "--cpus-per-task=2", "--partition=gpu", "--mail-type=END", "--exclusive",
    ]  # fmt: skip
    assert directives({"name": "mine"}, "app/abc", "/o", "/e")[:3] == [
        "--job-name=mine", "--output=/o", "--error=/e",
    ]  # fmt: skip
    script = batch_script(
        ["--array=0-2%2"],
        ["module load x"],
        ["py", "s p", "$((SLURM_ARRAY_TASK_ID + 50))"],
        shell=["$((SLURM_ARRAY_TASK_ID + 50))"],
    )
    assert script.splitlines() == [
        "#!/bin/bash", "#SBATCH --array=0-2%2", "module load x",
        "exec py 's p' $((SLURM_ARRAY_TASK_ID + 50))",
    ]  # fmt: skip


def test_what_tsq_does_not_do_is_refused() -> None:
    assert refusal({"nodes": 1, "tasks_per_node": 1, "max_num_timeout": 0}) is None
    assert "multi-task" in (refusal({"nodes": 2}) or "")
    assert "multi-task" in (refusal({"tasks_per_node": 4}) or "")
    assert "max_num_timeout" in (refusal({"max_num_timeout": 3}) or "")


@pytest.mark.parametrize("state", list(SlurmState))
def test_every_state_becomes_a_row(state: SlurmState) -> None:
    verdict = judge(state, ExitStatus(0, 0))
    row = queue_row(7, 1, "n", verdict, state, 2)
    meaning = STATE_MEANINGS[state]
    expected = {
        Phase.QUEUED: RowState.QUEUED,
        Phase.RUNNING: RowState.RUNNING,
        Phase.ENDED: RowState.SKIPPED
        if meaning.ending and meaning.ending.value == "cancelled"
        else RowState.ENDED,
    }[meaning.phase]
    assert row.state is expected and (row.queue_id, row.task) == (7, 1)
    if state in (SlurmState.TIMEOUT, SlurmState.OUT_OF_MEMORY, SlurmState.NODE_FAIL,
                 SlurmState.PREEMPTED):  # fmt: skip
        assert state.value in (row.reason or "")
    assert row.restarts == 2


def test_sampled_endings_as_the_refresh_sees_them() -> None:
    rows = {}
    for entry in parse_sacct((SAMPLES / "sacct-ended.txt").read_text()):
        verdict = entry.verdict()
        assert verdict is not None and entry.state is not None
        rows[entry.job, entry.task] = queue_row(
            entry.job, entry.task, entry.name, verdict, entry.state, 0,
            exit_code=entry.exit.code if entry.exit else None,
            signal=entry.exit.signal if entry.exit else None,
        )  # fmt: skip
    assert rows[5, None].signal == 9 and rows[5, None].state is RowState.ENDED
    assert rows[6, None].exit_code == 3 and rows[6, None].reason is None
    assert rows[7, None].state is RowState.SKIPPED and "scancel" in (rows[7, None].reason or "")
    assert rows[10, None].state is RowState.ENDED and "TIMEOUT" in (rows[10, None].reason or "")
    assert rows[14, None].state is RowState.SKIPPED
    assert "can never be satisfied" in (rows[14, None].reason or "")
    assert rows[2, 3].exit_code == 3
    queue = SlurmQueue(rows, "tsq")
    assert queue.find(JobRef(3, 1, "x/y/3", 2)) is rows[2, 3]
    assert queue.find(JobRef(9, 1, "x/y/9", 2)) is None, "another task of a known array"


def test_a_requeued_job_in_squeue_is_queued_again() -> None:
    (entry,) = parse_squeue((SAMPLES / "squeue-requeued.txt").read_text())
    verdict = entry.verdict()
    assert verdict is not None and entry.state is not None
    row = queue_row(entry.job, entry.task, entry.name, verdict, entry.state, entry.restarts)
    assert (row.state, row.restarts) == (RowState.QUEUED, 1)


def test_a_refresh_asks_sacct_for_ended_tasks_of_an_array_still_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Task 1 of array 2 runs (squeue lists it); task 0 ended: sacct must still be asked for
    array 2, or task 0 would be taken for missing. Three calls at most, whatever the jobs.
    Task 2, in none of them while sacct has the array's records, was cancelled while pending."""
    calls: list[str] = []
    outputs = {
        "squeue": "2_1|9|RUNNING|None|2026-11-29T02:52:32|0|n\n",
        "sacct": "2_0|8|FAILED|0:9|None|2026-11-29T02:52:32|2026-11-29T02:52:36|localhost|n\n",
        "scontrol": "",
    }

    def run(self, argv, what, **kwargs):
        calls.append(argv[0])
        return subprocess.CompletedProcess(argv, 0, outputs[argv[0]], "")

    monkeypatch.setattr(SlurmBackend, "_run", run)
    jobs = [JobRef(0, 1, "a/b/0", 2), JobRef(1, 1, "a/b/1", 2), JobRef(2, 1, "a/b/2", 2)]
    queue = SlurmBackend("tsq").look(jobs, [])
    assert queue is not None
    assert calls == ["squeue", "sacct", "scontrol"]
    assert queue.find(jobs[1]).state is RowState.RUNNING  # type: ignore[union-attr]
    assert queue.find(jobs[0]).signal == 9  # type: ignore[union-attr]
    skipped = queue.find(jobs[2])
    assert skipped is not None and skipped.state is RowState.SKIPPED
    assert skipped.reason == "cancelled in Slurm (scancel) before it started"


def test_a_rerun_names_the_cause_slurm_gives_for_the_earlier_run() -> None:
    """sacct -D keeps each run of a requeued job (captured: `scontrol requeue`): the earlier
    run's state is the cause the earlier attempt's reason names."""
    from tsq.refresh.decide import decide_rerun
    from tsq.refresh.observe import RunFiles
    from tsq.states import JobState
    from tsq.store import Job

    (run,) = last_runs(parse_sacct((SAMPLES / "sacct-rerun-D.txt").read_text())).values()
    job = Job(id=1, num=0, attempt=1, version=0, overrides=[], label="a/b/0", queue_id=2885,
              state=JobState.RUNNING)  # fmt: skip
    rerun = decide_rerun(job, "Slurm", [RunFiles()], run.causes(run.restarts))
    (ended,) = rerun.ended
    assert ended.reason == "Slurm ran it again (REQUEUED: requeued) before this run started"


def test_a_task_of_an_offset_array_never_recorded_is_found_by_its_name() -> None:
    """The launcher killed between sbatch and recording: the job is found by its default
    name, which carries its array's offset (task 3 of `app/abc+50` is job 53), and once its
    array id and task are recorded it is found by them."""
    job = JobRef(53, 1, "app/abc/53")
    name = array_name(job.label, job.attempt, 50)
    assert name == "app/abc+50"
    row = QueueRow(queue_id=9, label=name, state=RowState.QUEUED, task=3)
    other = QueueRow(queue_id=8, label="app/abc", state=RowState.QUEUED, task=3)
    queue = SlurmQueue({(9, 3): row, (8, 3): other}, "tsq")
    assert queue.find(job) is row
    assert queue.find(JobRef(3, 1, "app/abc/3")) is other
    assert queue.find(JobRef(53, 1, "app/abc/53", 9, "3")) is row
    from tsq.refresh.decide import Observation, QueueFacts, decide
    from tsq.states import JobState
    from tsq.store import Job

    record = Job(id=1, num=53, attempt=1, version=0, overrides=[], label="app/abc/53",
                 state=JobState.QUEUED)  # fmt: skip
    update = decide(record, Observation(queue=QueueFacts.of(queue), row=row))
    assert update is not None and (update.queue_id, update.server_id) == (9, "3")
