"""The Slurm parsers against what a live one-node cluster prints (the `slurm_cluster` fixture)."""

from __future__ import annotations

from pathlib import Path

from slurm import SlurmCluster

from tsq.backends.slurmlist import (
    SACCT_FIELDS,
    SQUEUE_FORMAT,
    Ending,
    ExitStatus,
    Phase,
    SlurmState,
    parse_sacct,
    parse_sbatch,
    parse_scontrol,
    parse_squeue,
    sbatch_error,
)


def sacct(cluster: SlurmCluster, job: int):
    out = cluster.run("sacct", "--parsable2", "-n", "-o", ",".join(SACCT_FIELDS), "-j", str(job))
    return parse_sacct(out.stdout)


def test_array_exit_codes_seen_by_squeue_scontrol_sacct(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    name = slurm_cluster.job_name("array")
    out = slurm_cluster.run(
        "sbatch", "--parsable", "--array=0-3%2", "-J", name, "-o", f"{tmp_path}/%A_%a.out",
        "--wrap", "sleep 1; exit $SLURM_ARRAY_TASK_ID",
    )  # fmt: skip
    job = parse_sbatch(out.stdout).job_id

    def queue():
        return parse_squeue(
            slurm_cluster.run("squeue", "-h", "-r", "-O", SQUEUE_FORMAT, "-j", str(job)).stdout
        )

    rows = queue()
    # Right after sbatch every task is known to squeue (the throttle keeps two pending at least).
    assert sorted(r.task for r in rows) == [0, 1, 2, 3]
    assert {r.job for r in rows} == {job} and {r.name for r in rows} == {name}
    assert all(r.verdict().phase in (Phase.QUEUED, Phase.RUNNING) for r in rows)
    assert sum(r.state is SlurmState.RUNNING for r in rows) <= 2

    def ended():
        records = parse_scontrol(
            slurm_cluster.run("scontrol", "show", "job", "-o", str(job)).stdout
        )
        tasks = {t: r for r in records for t in r.tasks}
        done = len(tasks) == 4 and all(r.verdict().phase is Phase.ENDED for r in tasks.values())
        return tasks if done else None

    tasks = slurm_cluster.poll("the array to end (scontrol)", ended, timeout=90)
    assert sorted(tasks) == [0, 1, 2, 3]
    for task, record in tasks.items():
        assert record.job == job and record.name == name
        assert record.exit == ExitStatus(task, 0)
        assert record.stdout == f"{tmp_path}/{job}_{task}.out"
        verdict = record.verdict()
        if task == 0:
            assert (record.state, verdict.ending, verdict.why) == (
                SlurmState.COMPLETED, Ending.COMPLETED, "",
            )  # fmt: skip
        else:
            assert (record.state, verdict.ending, verdict.why) == (
                SlurmState.FAILED, Ending.FAILED, f"exit code {task}",
            )  # fmt: skip
    # The controller keeps ended jobs (MinJobAge): squeue -j still answers, and says so.
    for row in queue():
        assert row.verdict() is None or row.verdict().phase is Phase.ENDED

    if not slurm_cluster.accounting:
        return

    def accounted():
        rows = {r.task: r for r in sacct(slurm_cluster, job)}
        ok = len(rows) == 4 and all(r.verdict().phase is Phase.ENDED for r in rows.values())
        return rows if ok else None

    rows = slurm_cluster.poll("the array to end (sacct)", accounted, timeout=60)
    for task, row in rows.items():
        assert (row.job, row.raw_id, row.name) == (job, tasks[task].job_id, name)
        assert (row.state, row.exit) == (tasks[task].state, tasks[task].exit)
        assert row.verdict() == tasks[task].verdict()
        assert row.start == tasks[task].start and row.end == tasks[task].end


def test_scancel_of_a_running_job(slurm_cluster: SlurmCluster) -> None:
    name = slurm_cluster.job_name("scancel")
    # `exec`: the batch shell is sleep itself. A shell waiting on sleep could end either way,
    # by the signal or with 143 from its child, whichever scancel's SIGTERM reached first.
    out = slurm_cluster.run(
        "sbatch", "--parsable", "-J", name, "-o", "/dev/null", "--wrap", "exec sleep 300"
    )
    job = parse_sbatch(out.stdout).job_id

    def state():
        (record,) = parse_scontrol(
            slurm_cluster.run("scontrol", "show", "job", "-o", str(job)).stdout
        )
        return record

    slurm_cluster.poll("the job to run", lambda: state().state is SlurmState.RUNNING)
    slurm_cluster.run("scancel", str(job))
    slurm_cluster.poll("the job to end", lambda: state().verdict().phase is Phase.ENDED)
    record = state()
    assert (record.state, record.exit) == (SlurmState.CANCELLED, ExitStatus(0, 15))
    assert record.verdict().ending is Ending.CANCELLED
    if slurm_cluster.accounting:
        (row,) = slurm_cluster.poll(
            "sacct to record the cancel",
            lambda: [r for r in sacct(slurm_cluster, job) if r.state is SlurmState.CANCELLED],
        )
        assert row.cancelled_by == 0 and row.verdict().ending is Ending.CANCELLED


def test_sbatch_refusal_is_one_line(slurm_cluster: SlurmCluster) -> None:
    name = slurm_cluster.job_name("refused")
    out = slurm_cluster.run(
        "sbatch", "--parsable", "-p", "nope", "-J", name, "--wrap", "true", check=False
    )
    assert out.returncode == 1 and out.stdout == ""
    assert sbatch_error(out.stderr) == (
        "invalid partition specified: nope; "
        "Batch job submission failed: Invalid partition name specified"
    )
