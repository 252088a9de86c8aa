"""The Slurm parsers against real captured output (tests/data/slurm-samples, see its README)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tsq.backends.slurmlist import (
    STATE_MEANINGS,
    Ending,
    ExitStatus,
    JobId,
    Phase,
    RunOf,
    SlurmParseError,
    SlurmState,
    Submission,
    cancelled_unstarted,
    expand_tasks,
    judge,
    last_runs,
    parse_exit_code,
    parse_job_id,
    parse_sacct,
    parse_sbatch,
    parse_scontrol,
    parse_squeue,
    parse_state,
    sbatch_error,
    split_scontrol,
)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "slurm-samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def one(name: str):
    jobs = parse_scontrol(sample(name))
    assert len(jobs) == 1
    return jobs[0]


def test_every_sample_is_tested() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    for path in sorted(SAMPLES.glob("*.txt")):
        if path.name == "oom-job-output.txt":
            continue
        assert f'"{path.name}"' in source or f'"{path.stem}"' in source, path.name


# --- sbatch ----------------------------------------------------------------------------------


def test_sbatch_outputs() -> None:
    assert parse_sbatch(sample("sbatch-parsable-array.txt")) == Submission(2, None)
    assert parse_sbatch(sample("sbatch-parsable-cluster.txt")) == Submission(3, "tsq")
    assert parse_sbatch(sample("sbatch-plain.txt")) == Submission(4, None)
    assert parse_sbatch("Submitted batch job 7 on cluster c2\n") == Submission(7, "c2")
    with pytest.raises(SlurmParseError):
        parse_sbatch("")
    with pytest.raises(SlurmParseError):
        parse_sbatch("sbatch: error: nope\n")


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        (
            "sbatch-error-partition",
            1,
            "invalid partition specified: nope; "
            "Batch job submission failed: Invalid partition name specified",
        ),
        ("sbatch-error-option", 255, "unrecognized option '--bogus-option'"),
        ("sbatch-error-time", 255, "Invalid --time specification"),
        (
            "sbatch-error-mem",
            1,
            "Memory specification can not be satisfied; "
            "Batch job submission failed: Requested node configuration is not available",
        ),
    ],
)
def test_sbatch_errors_are_one_line(name: str, status: int, message: str) -> None:
    assert sample(f"{name}.status").strip() == f"exit status {status}"
    assert sbatch_error(sample(f"{name}.txt")) == message


def test_unknown_job_id_errors() -> None:
    # squeue -j / scontrol show job of an id Slurm forgot: exit 1, this message (phase 2: "gone").
    for name in ("squeue-error-unknown-id", "scontrol-error-unknown-id"):
        assert sample(f"{name}.status").strip() == "exit status 1"
        assert sample(f"{name}.txt") == "slurm_load_jobs error: Invalid job id specified\n"


# --- ids, exit codes, states -----------------------------------------------------------------


def test_job_ids() -> None:
    assert parse_job_id("123") == JobId(123)
    assert parse_job_id("123_7") == JobId(123, (7,))
    assert parse_job_id("123_[0-3,5%2]") == JobId(123, (0, 1, 2, 3, 5))
    assert parse_job_id("123_7.batch") == JobId(123, (7,), "batch")
    assert parse_job_id("123.extern") == JobId(123, (), "extern")
    assert parse_job_id("123.0") == JobId(123, (), "0")
    assert expand_tasks("0-15:4") == (0, 4, 8, 12)
    assert expand_tasks("2-5%2") == (2, 3, 4, 5)
    for bad in ("", "x", "5-3", "1-2:0"):
        with pytest.raises(SlurmParseError):
            expand_tasks(bad)
    with pytest.raises(SlurmParseError):
        parse_job_id("12a")


def test_exit_codes() -> None:
    assert parse_exit_code("3:0") == ExitStatus(3, 0)
    assert parse_exit_code("0:9") == ExitStatus(0, 9)
    assert parse_exit_code("0:0").ok
    assert parse_exit_code("") is None


def test_states() -> None:
    assert parse_state("CANCELLED by 0") == (SlurmState.CANCELLED, 0)
    assert parse_state("RUNNING") == (SlurmState.RUNNING, None)
    assert parse_state("SOMETHING_NEW") == (None, None)
    assert set(STATE_MEANINGS) == set(SlurmState)
    assert len(SlurmState) == 24
    by_phase = {p: {s.value for s, m in STATE_MEANINGS.items() if m.phase is p} for p in Phase}
    assert by_phase[Phase.QUEUED] == {
        "PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "SPECIAL_EXIT",
        "RESV_DEL_HOLD",
    }  # fmt: skip
    assert by_phase[Phase.RUNNING] == {
        "RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING", "STOPPED", "SUSPENDED",
    }  # fmt: skip
    ended = {s: m for s, m in STATE_MEANINGS.items() if m.phase is Phase.ENDED}
    assert {s.value for s, m in ended.items() if m.ending is Ending.CANCELLED} == {
        "CANCELLED",
        "REVOKED",
    }
    assert STATE_MEANINGS[SlurmState.COMPLETED].ending is Ending.COMPLETED
    assert all(m.ending is None for m in STATE_MEANINGS.values() if m.phase is not Phase.ENDED)
    assert judge(SlurmState.OUT_OF_MEMORY, ExitStatus(0, 9)).why == (
        "ran out of memory (OUT_OF_MEMORY)"
    )
    assert judge(SlurmState.NODE_FAIL).why == "its node failed (NODE_FAIL)"
    assert judge(SlurmState.FAILED, ExitStatus(0, 0), "NonZeroExitCode").why == (
        "failed (NonZeroExitCode)"
    )
    assert judge(SlurmState.REQUEUE_HOLD).phase is Phase.QUEUED


# --- squeue ----------------------------------------------------------------------------------


def test_squeue_array_one_row_per_task() -> None:
    rows = parse_squeue(sample("squeue-array-running.txt"))
    assert [(r.job, r.task, r.raw_id, r.state) for r in rows] == [
        (2881, 2, 2881, SlurmState.PENDING),
        (2881, 3, 2881, SlurmState.PENDING),
        (2881, 4, 2881, SlurmState.PENDING),
        (2881, 5, 2881, SlurmState.PENDING),
        (2881, 1, 2887, SlurmState.RUNNING),
        (2881, 0, 2886, SlurmState.RUNNING),
    ]
    assert rows[0].reason == "JobArrayTaskLimit"
    assert rows[0].start is None
    assert rows[0].verdict().why == "waiting: array throttle (%)"
    assert rows[-1].start == datetime(2026, 11, 29, 8, 55, 26)
    assert rows[-1].verdict().phase is Phase.RUNNING
    assert {r.name for r in rows} == {"tsq-sample-array"}
    assert {r.restarts for r in rows} == {0}
    # Without -r the pending remainder is one "2881_[2-5%2]" row: same entries once expanded.
    assert parse_squeue(sample("squeue-array-running-no-r.txt")) == rows


def test_squeue_held_dependency_running_requeued() -> None:
    dep, held, running = parse_squeue(sample("squeue-held-dependency-running.txt"))
    assert (dep.job, dep.task, dep.reason) == (2884, None, "Dependency")
    assert dep.verdict().why == "waiting for a dependency"
    assert held.verdict().why == "held by its user: `scontrol release` to run it"
    assert (running.job, running.state, running.reason) == (2882, SlurmState.RUNNING, "None")
    # -O with size 0: a name longer than squeue's default 20 characters comes whole, | and all
    assert running.name == "name|with pipes and a name longer than twenty"
    (rq,) = parse_squeue(sample("squeue-requeued.txt"))
    assert (rq.job, rq.state, rq.reason, rq.restarts) == (2885, SlurmState.PENDING, "BeginTime", 1)
    # A pending job's start time is when Slurm expects to start it, not a start.
    assert rq.start == datetime(2026, 11, 29, 8, 57, 27)
    (rerun,) = parse_squeue(sample("squeue-rerun-running.txt"))
    assert (rerun.job, rerun.state, rerun.restarts) == (2885, SlurmState.RUNNING, 1)


def test_squeue_rejects_other_formats() -> None:
    with pytest.raises(SlurmParseError):
        parse_squeue("  JOBID PARTITION NAME\n")
    with pytest.raises(SlurmParseError, match="not a squeue row"):  # the old -o format
        parse_squeue("5|5|RUNNING|None|N/A|name\n")
    assert parse_squeue("\n") == []
    (row,) = parse_squeue("5|5|RUNNING|None|N/A|0|a|b|c\n")
    assert row.name == "a|b|c"


# --- sacct -----------------------------------------------------------------------------------


def test_sacct_array_skips_steps() -> None:
    rows = parse_sacct(sample("sacct-array.txt"))
    assert [(r.job, r.task, r.raw_id) for r in rows] == [
        (2, 0, 8), (2, 1, 9), (2, 2, 15), (2, 3, 16), (2, 4, 17), (2, 5, 2),
    ]  # fmt: skip
    assert rows[0].state is SlurmState.COMPLETED and rows[0].exit == ExitStatus(0, 0)
    assert rows[0].verdict().ending is Ending.COMPLETED
    for r in rows[1:]:
        assert r.state is SlurmState.FAILED
        assert r.exit == ExitStatus(r.task, 0)
        assert r.verdict().why == f"exit code {r.task}"
    assert rows[0].start == datetime(2026, 11, 29, 2, 52, 32)
    assert rows[0].end == datetime(2026, 11, 29, 2, 52, 36)


def test_sacct_every_ending() -> None:
    rows = {(r.job, r.task): r for r in parse_sacct(sample("sacct-ended.txt"))}
    assert len(rows) == 13
    verdicts = {
        k: (r.verdict().phase, r.verdict().ending, r.verdict().why) for k, r in rows.items()
    }
    assert verdicts[(5, None)] == (Phase.ENDED, Ending.FAILED, "killed by SIGKILL")
    assert verdicts[(6, None)] == (Phase.ENDED, Ending.FAILED, "exit code 3")
    assert verdicts[(7, None)] == (Phase.ENDED, Ending.CANCELLED, "cancelled")
    assert rows[(7, None)].cancelled_by == 0
    assert verdicts[(10, None)] == (Phase.ENDED, Ending.FAILED, "hit its time limit (TIMEOUT)")
    # Memory enforced by jobacct_gather (no cgroups): a SIGKILL, not OUT_OF_MEMORY.
    assert verdicts[(11, None)] == (Phase.ENDED, Ending.FAILED, "killed by SIGKILL")
    assert rows[(13, None)].cancelled_by == 0 and rows[(13, None)].nodes == "None assigned"
    assert rows[(13, None)].reason == "JobHeldUser"
    # Cancelled by Slurm (no "by UID"): its dependency can never be met.
    assert rows[(14, None)].cancelled_by is None
    assert verdicts[(14, None)] == (
        Phase.ENDED,
        Ending.CANCELLED,
        "cancelled by Slurm: its dependency can never be satisfied",
    )
    assert [r for r in parse_sacct(sample("sacct-ended-X.txt"))] == list(rows.values())


def test_sacct_running_array_and_requeue() -> None:
    rows = parse_sacct(sample("sacct-array-running.txt"))
    assert [(r.job, r.task, r.raw_id, r.state) for r in rows] == [
        (20, 0, 21, SlurmState.RUNNING),
        (20, 1, 20, SlurmState.PENDING),
        (20, 2, 20, SlurmState.PENDING),
        (20, 3, 20, SlurmState.PENDING),
    ]
    assert rows[0].end is None and rows[1].start is None
    for name in ("sacct-requeued.txt", "sacct-requeued-D.txt"):
        (rq,) = parse_sacct(sample(name))
        assert (rq.job, rq.state, rq.exit) == (12, SlurmState.REQUEUED, ExitStatus(0, 0))
        assert rq.verdict().phase is Phase.QUEUED
    (run,) = last_runs(parse_sacct(sample("sacct-requeued-D.txt"))).values()
    assert run.restarts == 0, "its second run is not in sacct yet"


def test_a_stale_pending_range_in_sacct_is_no_second_run() -> None:
    """slurmdbd lists an array's pending remainder (`3818_[8-39%40]`) late: here tasks 8-23
    have started, some have ended, and have records of their own. Taken for runs, the stale
    remainder made each of them look requeued (restarts 1, pending again), and the refresh
    archived a completed job's run and failed the run it then waited for."""
    entries = parse_sacct(sample("sacct-array-stale-range.txt"))
    runs = last_runs(entries)
    assert sorted(runs) == [(3818, task) for task in range(40)]
    assert {run.restarts for run in runs.values()} == {0}
    own = {task: runs[3818, task].entry for task in range(24)}
    assert not any(entry.in_range for entry in own.values())
    assert own[20].state is SlurmState.COMPLETED and own[21].state is SlurmState.RUNNING
    rest = [runs[3818, task].entry for task in range(24, 40)]
    assert all(e.in_range and e.state is SlurmState.PENDING for e in rest)
    # The remainder listed first (sacct's order is not promised) changes nothing.
    assert last_runs(entries[-32:] + entries[:-32]) == runs


def test_sacct_d_lists_each_run_of_a_requeued_job() -> None:
    """With -D a job Slurm ran again has one record per run, oldest first: the last is the
    job's latest run, and how many came before is Slurm's restart count (as scontrol says)."""
    first, second = parse_sacct(sample("sacct-rerun-D.txt"))
    assert (first.state, second.state, second.cancelled_by) == (
        SlurmState.REQUEUED, SlurmState.CANCELLED, 0,
    )  # fmt: skip
    runs = last_runs([first, second])
    assert runs == {(2885, None): RunOf(second, 1, ("REQUEUED: requeued", "CANCELLED: cancelled"))}
    # Why Slurm ran it again: how the earlier run ended (`scontrol requeue`: REQUEUED). While
    # the rerun waits, sacct lists only that run: squeue's restart count (1) picks it.
    assert runs[2885, None].causes(1) == ("REQUEUED: requeued",)
    (pending,) = last_runs([first]).values()
    assert (pending.restarts, pending.causes(1)) == (0, ("REQUEUED: requeued",))
    (shown,) = parse_scontrol(sample("scontrol-rerun.txt"))
    assert (shown.job, shown.restarts) == (2885, 1)


def test_sacct_spaces_and_shape() -> None:
    (row,) = parse_sacct(sample("sacct-spaces.txt"))
    # sacct does not keep a job name with spaces here: it says "allocation".
    assert (row.job, row.state, row.name) == (19, SlurmState.COMPLETED, "allocation")
    with pytest.raises(SlurmParseError):
        parse_sacct("1|COMPLETED\n")


# --- array tasks cancelled while pending ------------------------------------------------------


def _missing(array: int, tasks: range, *names: str) -> set[tuple[int, int]]:
    """The tasks of `array` that none of the sampled outputs lists, as a refresh finds them."""
    listed: set[tuple[int, int | None]] = set()
    for name in names:
        if name.startswith("squeue"):
            listed |= {(e.job, e.task) for e in parse_squeue(sample(name))}
        elif name.startswith("sacct"):
            listed |= {(e.job, e.task) for e in parse_sacct(sample(name))}
        else:
            listed |= {(r.job, t) for r in parse_scontrol(sample(name)) for t in r.tasks}
    return {(array, task) for task in tasks} - listed


def test_a_pending_task_cancelled_leaves_no_record_of_its_own() -> None:
    """`scancel 117_3`, then `117_[1-2]`, of tasks waiting behind the throttle (`%1`): squeue
    and the array's pending remainder in scontrol lose them, sacct never records them. The
    remainder (scontrol), or sacct's records of the array, are the evidence that they were
    cancelled before they started: no longer silence taken for `lost`."""
    assert _missing(117, range(5), "squeue-cancel-task.txt", "scontrol-cancel-task.txt") == {
        (117, 3)
    }
    (remainder, running) = parse_scontrol(sample("scontrol-cancel-task.txt"))
    assert (remainder.job_id, remainder.tasks, remainder.remainder) == (117, (1, 2, 4), True)
    assert (running.job_id, running.tasks, running.remainder) == (119, (0,), False)
    assert cancelled_unstarted({(117, 3)}, None, [remainder, running]) == {(117, 3)}
    # Only a task that started leaves the remainder with a record of its own: without the
    # remainder (its last task started) and without sacct, there is no evidence.
    assert cancelled_unstarted({(117, 3)}, None, [running]) == set()
    accounted = parse_sacct(sample("sacct-cancel-range.txt"))
    assert [(e.task, e.in_range, e.state) for e in accounted] == [
        (0, False, SlurmState.RUNNING), (4, True, SlurmState.PENDING),
    ]  # fmt: skip
    missing = {(117, t) for t in (1, 2, 3)}
    assert cancelled_unstarted(missing, accounted, []) == missing
    assert cancelled_unstarted({(999, 0)}, accounted, [remainder]) == set(), "another array"


def test_the_last_pending_task_cancelled_empties_the_remainder() -> None:
    """Cancelling the last task left in the remainder ends the array's own record CANCELLED:
    sacct names it with the tasks slurmdbd last heard were in it (`117_[4%1]`) or with none
    (`109`, seen once), scontrol with Slurm's no-task id 4294967294 (no task list here)."""
    (_, last) = parse_sacct(sample("sacct-cancel-last.txt"))
    assert (last.job, last.task, last.state, last.cancelled_by) == (
        117, 4, SlurmState.CANCELLED, 0,
    )  # fmt: skip
    (_, bare) = parse_sacct(sample("sacct-cancel-last-no-task.txt"))
    assert (bare.job, bare.task, bare.state) == (109, None, SlurmState.CANCELLED)
    assert cancelled_unstarted({(109, 1), (109, 3)}, [bare], []) == {(109, 1), (109, 3)}
    emptied, task0 = parse_scontrol(sample("scontrol-cancel-last.txt"))
    assert (emptied.job_id, emptied.tasks, emptied.state) == (117, (), SlurmState.CANCELLED)
    assert emptied.remainder and not task0.remainder
    assert cancelled_unstarted({(117, 3)}, None, [emptied, task0]) == {(117, 3)}
    # Once every task has ended, sacct still has the array's records, none for 1-3.
    ended = parse_sacct(sample("sacct-cancel-ended.txt"))
    assert {(e.task, e.state) for e in ended} == {
        (0, SlurmState.COMPLETED), (4, SlurmState.CANCELLED),
    }  # fmt: skip
    missing = {(117, t) for t in (1, 2, 3)}
    assert cancelled_unstarted(missing, ended, []) == missing


def test_scancel_t_pending_cancels_the_remainder_whole() -> None:
    """`scancel -t PENDING 118`: squeue lists only the running task; sacct names the
    cancelled tasks in the remainder's range; scontrol's remainder has lost its task list."""
    assert _missing(118, range(4), "squeue-cancel-pending.txt") == {(118, t) for t in (1, 2, 3)}
    entries = parse_sacct(sample("sacct-cancel-pending.txt"))
    assert {(e.task, e.state) for e in entries if e.in_range} == {
        (t, SlurmState.CANCELLED) for t in (1, 2, 3)
    }
    emptied, _ = parse_scontrol(sample("scontrol-cancel-pending.txt"))
    assert emptied.remainder and emptied.tasks == () and emptied.state is SlurmState.CANCELLED
    missing = {(118, t) for t in (1, 2, 3)}
    assert cancelled_unstarted(missing, None, [emptied]) == missing


# --- scontrol --------------------------------------------------------------------------------


def test_scontrol_array_records() -> None:
    pending, t1, t0 = parse_scontrol(sample("scontrol-array-running.txt"))
    assert (pending.job_id, pending.job, pending.tasks) == (2, 2, (2, 3, 4, 5))
    assert (pending.state, pending.reason) == (SlurmState.PENDING, "JobArrayTaskLimit")
    assert pending.start is None and pending.fields["ArrayTaskThrottle"] == "2"
    assert pending.stdout.endswith("/arr-2_4294967294.out")
    assert (t1.job_id, t1.job, t1.tasks, t1.state) == (9, 2, (1,), SlurmState.RUNNING)
    assert (t0.job_id, t0.tasks) == (8, (0,))
    ended = parse_scontrol(sample("scontrol-array-ended.txt"))
    assert [(j.job_id, j.tasks, j.exit) for j in ended] == [
        (2, (5,), ExitStatus(5, 0)),
        (17, (4,), ExitStatus(4, 0)),
        (16, (3,), ExitStatus(3, 0)),
        (15, (2,), ExitStatus(2, 0)),
        (9, (1,), ExitStatus(1, 0)),
        (8, (0,), ExitStatus(0, 0)),
    ]
    assert ended[-1].verdict().ending is Ending.COMPLETED
    assert ended[0].verdict() == judge(SlurmState.FAILED, ExitStatus(5, 0))
    assert ended[0].end == datetime(2026, 11, 29, 2, 52, 42)
    assert ended[0].stdout.endswith("/arr-2_5.out")


def test_a_job_slurm_could_not_launch_says_so() -> None:
    """Its output file's folder missing: slurmd fails the job before anything runs, FAILED
    0:53 (JobLaunchFailure). 53 is no signal anyone sent."""
    shown = one("scontrol-launch-failed.txt")
    (acct,) = parse_sacct(sample("sacct-launch-failed.txt"))
    assert shown.exit == acct.exit == ExitStatus(0, 53)
    assert (shown.state, shown.reason) == (SlurmState.FAILED, "JobLaunchFailure")
    for verdict in (shown.verdict(), acct.verdict()):
        assert verdict.ending is Ending.FAILED
        assert verdict.why.startswith("never started: Slurm could not launch it")


@pytest.mark.parametrize(
    ("name", "job", "state", "reason", "exit", "phase", "ending", "why"),
    [
        ("scontrol-exit3.txt", 6, "FAILED", "NonZeroExitCode", (3, 0), "ended", "failed",
         "exit code 3"),
        ("scontrol-kill9.txt", 5, "FAILED", "JobLaunchFailure", (0, 9), "ended", "failed",
         "killed by SIGKILL"),
        ("scontrol-oom.txt", 11, "FAILED", "JobLaunchFailure", (0, 9), "ended", "failed",
         "killed by SIGKILL"),
        ("scontrol-cancelled.txt", 7, "CANCELLED", "None", (0, 15), "ended", "cancelled",
         "cancelled"),
        ("scontrol-cancelled-pending.txt", 13, "CANCELLED", "JobHeldUser", (0, 0), "ended",
         "cancelled", "cancelled"),
        ("scontrol-timeout.txt", 10, "TIMEOUT", "TimeLimit", (0, 15), "ended", "failed",
         "hit its time limit (TIMEOUT)"),
        ("scontrol-dependency-never.txt", 14, "CANCELLED", "DependencyNeverSatisfied", (0, 0),
         "ended", "cancelled", "cancelled by Slurm: its dependency can never be satisfied"),
        ("scontrol-dependency-pending.txt", 14, "PENDING", "Dependency", (0, 0), "queued", None,
         "waiting for a dependency"),
        ("scontrol-held.txt", 13, "PENDING", "JobHeldUser", (0, 0), "queued", None,
         "held by its user: `scontrol release` to run it"),
        ("scontrol-requeued.txt", 12, "PENDING", "BeginTime", (0, 0), "queued", None,
         "waiting for its begin time"),
    ],
)  # fmt: skip
def test_scontrol_states(name, job, state, reason, exit, phase, ending, why) -> None:
    j = one(name)
    assert (j.job_id, j.job, j.tasks) == (job, job, ())
    assert (j.state, j.reason, j.exit) == (SlurmState(state), reason, ExitStatus(*exit))
    v = j.verdict()
    assert (v.phase.value, v.ending.value if v.ending else None, v.why) == (phase, ending, why)


def test_scontrol_details() -> None:
    assert one("scontrol-requeued.txt").restarts == 1
    assert one("scontrol-dependency-never.txt").dependency == "afterok:7(failed)"
    assert one("scontrol-dependency-pending.txt").dependency == "afterok:7(unfulfilled)"
    assert one("scontrol-exit3.txt").dependency is None
    assert one("scontrol-exit3.txt").command is None  # --wrap
    timeout = one("scontrol-timeout.txt")
    assert timeout.fields["TRES"] == "cpu=1,mem=256M,node=1,billing=1"
    assert timeout.fields["Power"] == ""
    assert timeout.fields["AllocNode:Sid"] == "localhost:16468"
    assert timeout.fields["UserId"] == "root(0)"


def test_scontrol_values_with_spaces() -> None:
    j = one("scontrol-spaces.txt")
    base = j.workdir.rsplit("/", 1)[0]
    assert j.name == "name with spaces"
    assert j.workdir == f"{base}/dir with space"
    assert j.command == f"{base}/dir with space/job script.sh arg one two"
    assert j.stdout == j.stderr == f"{base}/dir with space/out 19.txt"
    assert j.fields["StdIn"] == "/dev/null"
    assert j.state is SlurmState.COMPLETED


def test_split_scontrol_free_text_rules() -> None:
    line = "JobId=1 JobName=a b=c JobState=RUNNING Reason=x NewKey=1 Command=/bin/x y=z WorkDir=/w"
    assert split_scontrol(line) == {
        "JobId": "1",
        "JobName": "a b=c",
        "JobState": "RUNNING",
        "Reason": "x NewKey=1",
        "Command": "/bin/x y=z",
        "WorkDir": "/w",
    }
    # Outside free text, an unknown key (a newer Slurm) is a field of its own.
    assert split_scontrol("JobId=1 Brand=New JobState=PENDING")["Brand"] == "New"
    with pytest.raises(SlurmParseError):
        split_scontrol("not a record")
    with pytest.raises(SlurmParseError):
        parse_scontrol("Foo=1\n")
