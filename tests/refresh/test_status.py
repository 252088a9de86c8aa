"""How status decides a job's state: the pure policy, then the faults it must read right."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from eventually import eventually
from sweeps import Sandbox, by_num

from tsq.backends import QueueRow, RowState
from tsq.backends.ts import SKIPPED_REASON, queue_row
from tsq.backends.tslist import TsJob
from tsq.files.labels import match
from tsq.files.results import ResultSummary
from tsq.files.started import Started
from tsq.refresh.decide import Observation, QueueFacts, decide, decide_rerun
from tsq.refresh.observe import RunFiles
from tsq.states import JobState
from tsq.store import INTENT_CANCEL, INTENT_SUBMIT, Job


def job(
    state: JobState = JobState.QUEUED,
    queue_id: int | None = 4,
    *,
    intent: str | None = None,
    lease: str | None = None,
    server_id: str | None = None,
) -> Job:
    return Job(
        id=1,
        num=0,
        attempt=1,
        version=3,
        overrides=["x=1"],
        label="app/abc/0",
        queue_id=queue_id,
        state=state,
        intent=intent,
        lease=lease,
        server_id=server_id,
    )


QUEUED, RUNNING = JobState.QUEUED, JobState.RUNNING


def facts(*, alive: bool = True, server_id: str | None = None, complete: bool = True) -> QueueFacts:
    return QueueFacts(
        name="ts",
        title="task-spooler",
        where="the ts server on /s",
        forgetting="its server restarted or pruned its finished list",
        alive=alive,
        server_id=server_id,
        complete=complete,
    )


def seen(**fields: object) -> Observation:
    """An observation of a live queue unless said otherwise."""
    queue = facts(
        alive=bool(fields.pop("alive", True)),
        server_id=fields.pop("server_id", None),  # type: ignore[arg-type]
        complete=bool(fields.pop("complete", True)),
    )
    return Observation(queue=queue, **fields)  # type: ignore[arg-type]


def row(
    state: RowState,
    *,
    id: int = 4,
    label: str = "app/abc/0",
    exit_code: int | None = None,
    signal: int | None = None,
    reason: str | None = None,
) -> QueueRow:
    return QueueRow(
        queue_id=id,
        label=label,
        state=state,
        exit_code=exit_code,
        signal=signal,
        reason=reason,
    )


def ts_row(state: str, elevel: int | None = None, real_time: float | None = None) -> TsJob:
    return TsJob(
        id=4,
        state=state,
        output=None,
        elevel=elevel,
        real_time=real_time,
        label="app/abc/0",
        depends=(),
        command="python -m tsq.runner spec 0",
        truncated=False,
    )


def result(status: str = "completed", error: str | None = None) -> ResultSummary:
    return ResultSummary(
        status=status,
        exit_code=0 if status == "completed" else 1,
        error=error,
        traceback=None,
        return_value=1,
        started_at=1.0,
        ended_at=2.0,
        output_dir="/out/0",
        working_dir="/w",
        task_name="app",
    )


def test_ts_rows_become_queue_rows() -> None:
    assert queue_row(ts_row("queued")).state is RowState.QUEUED
    assert queue_row(ts_row("allocating")).state is RowState.QUEUED, "the fork, awaiting GPUs"
    assert queue_row(ts_row("running")).state is RowState.RUNNING
    skipped = queue_row(ts_row("skipped"))
    assert (skipped.state, skipped.reason) == (RowState.SKIPPED, SKIPPED_REASON)
    ended = queue_row(ts_row("finished", elevel=-56, real_time=2.5))
    assert (ended.state, ended.exit_code, ended.run_time) == (RowState.ENDED, 200, 2.5)
    assert not ended.ambiguous, "a signed char: -56 is exit 200"
    unclear = queue_row(ts_row("finished", elevel=-1))
    assert unclear.ambiguous and unclear.exit_code is None, "-1 is 255, a signal or exec failure"


def test_result_file_decides_over_the_queue() -> None:
    update = decide(job(RUNNING), seen(row=row(RowState.RUNNING), result=result()))
    assert update is not None and update.state == JobState.COMPLETED
    assert (update.exit_code, update.output_dir, update.ended_at) == (0, "/out/0", 2.0)
    failed = decide(job(), seen(result=result("failed", "ValueError: x")))
    assert failed is not None and (failed.state, failed.reason) == (
        JobState.FAILED,
        "ValueError: x",
    )


def test_unusable_result_file_fails_the_job_with_the_reason() -> None:
    update = decide(
        job(RUNNING),
        seen(row=row(RowState.ENDED, exit_code=0), result_problem="result file x is corrupt"),
    )
    assert update is not None and update.state == JobState.FAILED
    assert update.reason == "result file x is corrupt"


def test_row_states_map_to_job_states() -> None:
    assert decide(job(), seen(row=row(RowState.QUEUED))) is None
    running = decide(
        job(), seen(row=row(RowState.RUNNING), started=Started(1, 5.0, output_dir="/o"))
    )
    assert running is not None and running.state == JobState.RUNNING
    assert (running.started_at, running.output_dir) == (5.0, "/o")
    started = decide(job(), seen(row=row(RowState.QUEUED), started=Started(1, 5.0)))
    assert started is not None and started.state == JobState.RUNNING, "it wrote `started`"
    skipped = decide(job(), seen(row=row(RowState.SKIPPED, reason="its dependency failed")))
    assert skipped is not None and skipped.state == JobState.CANCELLED
    assert skipped.reason == "its dependency failed"


def test_ended_without_result_reports_exit_code_or_signal() -> None:
    by_code = decide(job(RUNNING), seen(row=row(RowState.ENDED, exit_code=200)))
    assert by_code is not None and by_code.state == JobState.FAILED
    assert by_code.exit_code == 200 and "exited with code 200" in (by_code.reason or "")
    killed = decide(job(RUNNING), seen(row=row(RowState.ENDED, signal=9)))
    assert killed is not None and killed.signal == 9
    assert "killed by SIGKILL" in (killed.reason or "")
    unknown = decide(job(RUNNING), seen(row=row(RowState.ENDED)))
    assert unknown is not None and unknown.state == JobState.FAILED
    assert unknown.reason == "ended without writing a result"


def test_ended_at_is_when_it_ended_not_when_a_refresh_noticed() -> None:
    ended = QueueRow(4, "app/abc/0", RowState.ENDED, exit_code=3, run_time=7.0)
    update = decide(job(RUNNING), seen(row=ended, started=Started(1, 100.0, output_dir="/o")))
    assert update is not None and (update.started_at, update.ended_at) == (100.0, 107.0)
    assert update.output_dir == "/o"


def test_a_reused_queue_id_is_not_taken_for_the_job() -> None:
    other = row(RowState.RUNNING, id=4, label="other/xyz/0")
    assert match("app/abc/0", 4, {4: other}, {"other/xyz/0": other}) is None
    update = decide(job(), seen(row=None))
    assert update is not None and update.state == JobState.LOST
    assert "no longer lists job 4" in (update.reason or "")
    mine = row(RowState.QUEUED, id=9)
    assert match("app/abc/0", 4, {4: other, 9: mine}, {"app/abc/0": mine}) == mine, (
        "found by label under another id"
    )
    assert match("app/abc/0", 9, {9: mine}, {}) == mine


def test_a_job_found_by_label_gets_its_queue_id_recorded() -> None:
    update = decide(job(queue_id=None), seen(row=row(RowState.QUEUED, id=9), server_id="unix:7"))
    assert update is not None and (update.state, update.queue_id) == (JobState.QUEUED, 9)
    assert update.server_id == "unix:7", "and the server it was found in"


def test_updates_are_decided_from_the_row_version_read() -> None:
    update = decide(job(RUNNING), seen(result=result()))
    assert update is not None and (update.version, update.seen) == (3, JobState.RUNNING)


def test_gone_server_or_dead_command_make_jobs_lost() -> None:
    gone = decide(job(), seen(alive=False))
    assert gone is not None and gone.state == JobState.LOST
    assert gone.reason == "the ts server on /s is gone and the job left no result"
    queueing = job(queue_id=None, intent="submit", lease="L")
    assert decide(queueing, seen(lease_held=True)) is None, (
        "a command still queueing its jobs is left alone"
    )
    never = decide(queueing, seen(lease_held=False))
    assert never is not None and never.state == JobState.LOST and never.release
    assert "never queued in ts" in (never.reason or "")
    alive = decide(job(RUNNING), seen(alive=False, runner_alive=True, started=Started(1, 3.0)))
    assert alive is not None and alive.state == JobState.RUNNING, (
        "a job whose process still runs is not lost because its queue forgot it"
    )


def test_a_live_lease_is_never_judged_from_the_queues_silence() -> None:
    for state, queue_id in ((QUEUED, None), (QUEUED, 4), (RUNNING, 4)):
        for intent in ("submit", "cancel"):
            claimed = job(state, queue_id, intent=intent, lease="L", server_id="unix:1")
            for obs in (
                seen(lease_held=True),
                seen(lease_held=True, alive=False),
                seen(lease_held=True, server_id="unix:2"),
            ):
                assert decide(claimed, obs) is None, (state, queue_id, intent, obs)
    done = decide(job(intent="cancel", lease="L"), seen(lease_held=True, result=result()))
    assert done is not None and done.state == JobState.COMPLETED, "a result is the truth"
    assert not done.release, "the live claim stays"


def test_a_cancel_that_died_leaves_true_records() -> None:
    cancelling = job(QUEUED, intent="cancel", lease="L", server_id="unix:1")
    removed = decide(cancelling, seen(server_id="unix:1"))
    assert removed is not None and removed.state == JobState.CANCELLED and removed.release
    not_reached = decide(cancelling, seen(row=row(RowState.QUEUED)))
    assert not_reached is not None and not_reached.state == JobState.QUEUED
    assert not_reached.release, "its claim is cleared: the job goes on"
    killed = decide(
        job(RUNNING, intent="cancel", lease="L"), seen(row=row(RowState.ENDED, signal=15))
    )
    assert killed is not None and killed.state == JobState.CANCELLED
    crashed = decide(
        job(RUNNING, intent="cancel", lease="L"), seen(row=row(RowState.ENDED, signal=11))
    )
    assert crashed is not None and crashed.state == JobState.FAILED, "not the cancel's doing"


def test_absence_from_a_listing_with_unreadable_rows_decides_nothing() -> None:
    """A row the listing printed but could not read may be the job's (a tab in a label shifts
    the fork's `-M tab` fields): neither removed, nor forgotten, nor never queued."""
    for queued in (job(QUEUED, server_id="unix:1"), job(QUEUED, queue_id=None)):
        assert decide(queued, seen(server_id="unix:1", complete=False)) is None
    ran = job(RUNNING, server_id="unix:1")
    assert decide(ran, seen(server_id="unix:1", complete=False, started=Started(1, 1.0))) is None
    gone = decide(job(QUEUED, server_id="unix:1"), seen(alive=False, complete=False))
    assert gone is not None and gone.state == JobState.LOST, "a dead server is evidence enough"


def test_a_missing_job_is_lost_only_on_evidence_of_a_new_server() -> None:
    queued = job(QUEUED, server_id="unix:1")
    restarted = decide(queued, seen(server_id="unix:2"))
    assert restarted is not None and restarted.state == JobState.LOST
    assert "was restarted" in (restarted.reason or "")
    removed = decide(queued, seen(server_id="unix:1"))
    assert removed is not None and removed.state == JobState.CANCELLED, (
        "gone from the same server before it started: removed from the queue (ts -r)"
    )
    assert "removed from task-spooler's queue" in (removed.reason or "")
    began = decide(queued, seen(server_id="unix:1", began=True))
    assert began is not None and began.state == JobState.LOST, (
        "ts ran its command (the mark), the runner never started, then ts forgot it: not removed"
    )
    assert "ended before tsq's runner started in it" in (began.reason or "")
    ran = decide(
        job(RUNNING, server_id="unix:1"), seen(server_id="unix:1", started=Started(1, 1.0))
    )
    assert (
        ran is not None and ran.state == JobState.LOST and "no longer lists" in (ran.reason or "")
    )


def test_another_hosts_job_is_judged_from_its_files_only() -> None:
    """A job queued on another host: this host cannot ask its queue (`queue` is None), so only
    its files speak. Nothing ends it without a result: not a dead command, not a lease left
    behind, not a cancel's intent, not a missing ts id."""
    remote = Observation(queue=None)
    done = decide(job(RUNNING), Observation(queue=None, result=result()))
    assert done is not None and done.state == JobState.COMPLETED
    failed = decide(job(), Observation(queue=None, result=result("failed", error="E: x")))
    assert failed is not None and (failed.state, failed.reason) == (JobState.FAILED, "E: x")
    damaged = decide(job(RUNNING), Observation(queue=None, result_problem="truncated"))
    assert damaged is not None and damaged.state == JobState.FAILED
    started = decide(job(), Observation(queue=None, started=Started(1, 5.0, output_dir="/o")))
    assert started is not None and (started.state, started.started_at) == (RUNNING, 5.0)
    for unseen in (
        job(),
        job(RUNNING),
        job(queue_id=None),
        job(intent=INTENT_CANCEL),
        job(server_id="unix:1"),
    ):
        assert decide(unseen, remote) is None, unseen
    # Its lease cannot be probed from here (`observe` says held): the claim is not cleared.
    held = Observation(queue=None, lease_held=True)
    assert decide(job(lease="b", intent=INTENT_SUBMIT), held) is None


# --- against the real task-spooler ------------------------------------------------------------


def test_jobs_of_a_killed_server_are_lost_and_new_ids_do_not_match(sandbox: Sandbox) -> None:
    sandbox.block_queue()
    sandbox.sweep("x=1,2")
    sandbox.kill_server()
    # A new server: its ids restart at 0, the ids the lost jobs had.
    new_ids = [int(sandbox.tsp("-L", f"other{i}", "true").stdout) for i in range(3)]
    assert new_ids == [0, 1, 2]
    jobs = sandbox.status()
    assert [j["state"] for j in jobs] == ["lost", "lost"]
    assert all(f"ts server on {sandbox.socket} was restarted" in j["reason"] for j in jobs)
    assert {j["queue_id"] for j in jobs} <= {1, 2}, "the ts ids they had, not the new jobs'"
    sandbox.tsp("-K")


def test_dead_server_without_a_new_one_marks_queued_jobs_lost(sandbox: Sandbox) -> None:
    sandbox.block_queue()
    sandbox.sweep("x=1,2")
    sandbox.kill_server()
    proc = sandbox.tsq("status", "--json")
    jobs = json.loads(proc.stdout)
    assert [j["state"] for j in jobs] == ["lost", "lost"]
    assert all(f"ts server on {sandbox.socket} is gone" in j["reason"] for j in jobs)
    assert "is not running" in proc.stderr
    assert not Path(sandbox.socket).exists(), "status must not start a server"


def _wait_ts_idle(sandbox: Sandbox) -> None:
    eventually(
        lambda: sandbox.tsp("-l").stdout,
        "ts to run every job",
        until=lambda listing: not any(s in listing for s in (" queued ", " running ")),
        interval=0.2,
    )


def _restart_server(sandbox: Sandbox, **env: str) -> None:
    sandbox.kill_server()
    subprocess.run(
        ["tsp", "-S", "2"],
        env={**sandbox.env, **env},
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )


def test_jobs_pruned_from_ts_resolve_from_their_result_files(sandbox: Sandbox) -> None:
    _restart_server(sandbox, TS_MAXFINISHED="1")
    sandbox.sweep("x=1,2,3")
    _wait_ts_idle(sandbox)
    listed = [line for line in sandbox.tsp("-l").stdout.splitlines()[1:] if line.strip()]
    assert len(listed) == 1, "ts kept one finished job and forgot the others"
    jobs = sandbox.status()
    assert [j["state"] for j in jobs] == ["completed"] * 3


def test_pruned_job_without_a_result_is_lost_with_the_reason(sandbox: Sandbox) -> None:
    _restart_server(sandbox, TS_MAXFINISHED="1")
    sandbox.sweep("x=1,2")
    _wait_ts_idle(sandbox)
    spool = next((sandbox.root / "multirun").glob("*/.tsq/*"))
    (spool / "jobs" / "0.json").unlink()
    jobs = by_num(sandbox.status())
    assert jobs[0]["state"] == "lost"
    assert "no longer lists job" in jobs[0]["reason"] and "left no result" in jobs[0]["reason"]
    assert jobs[1]["state"] == "completed"


def test_job_killed_by_a_signal_fails_with_the_signal(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1", "sleep=60")
    started = sandbox.started(0)
    assert sandbox.status()[0]["state"] == "running"
    os.kill(started["pid"], signal.SIGKILL)
    jobs = sandbox.wait_terminal()
    assert jobs[0]["state"] == "failed"
    assert jobs[0]["signal"] == 9 and "killed by SIGKILL" in jobs[0]["reason"]
    table = sandbox.tsq("status").stdout
    assert "SIGKILL" in table


def test_status_touches_only_jobs_not_yet_terminal(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1")
    sandbox.wait_terminal()
    spool = next((sandbox.root / "multirun").glob("*/.tsq/*"))
    (spool / "jobs" / "0.json").write_text("garbage")
    assert sandbox.status()[0]["state"] == "completed"


@pytest.mark.parametrize("garbage", ["{not json", '{"status": "exploded"}'])
def test_corrupt_result_of_an_active_job_fails_it(sandbox: Sandbox, garbage: str) -> None:
    blocker = sandbox.block_queue()
    sandbox.sweep("x=1,2")
    spool = next((sandbox.root / "multirun").glob("*/.tsq/*"))
    (spool / "jobs").mkdir(mode=0o700, exist_ok=True)
    (spool / "jobs" / "0.json").write_text(garbage)
    (spool / "jobs" / "0.json").chmod(0o600)
    jobs = by_num(sandbox.status())
    assert jobs[0]["state"] == "failed" and "is corrupt" in jobs[0]["reason"]
    assert jobs[1]["state"] == "queued"
    sandbox.release(blocker)
    sandbox.wait_terminal()
    collected = by_num(json.loads(sandbox.tsq("collect", "--json", check=False).stdout))
    assert "is corrupt" in collected[0]["error"], "collect reports it"
    assert collected[1]["state"] == "completed", "the others are unaffected"


def test_durations_are_when_things_happened_not_when_status_asked(sandbox: Sandbox) -> None:
    """No refresh sees the jobs run; they are killed or cancelled; status is asked well after."""
    sandbox.sweep("x=1,2", "sleep=60")
    killed_pid = sandbox.started(0)["pid"]
    sandbox.started(1)
    os.kill(killed_pid, signal.SIGKILL)
    killed_at = time.time()
    sandbox.tsq("cancel", f"{sandbox.status()[0]['sweep']}:1")
    cancelled_at = time.time()
    sandbox.sweep("x=3", "sleep=2")  # a while later: another sweep, run to its end
    sandbox.wait_terminal()
    asked_at = time.time()
    jobs = by_num(sandbox.status())
    killed, cancelled = jobs[0], jobs[1]
    assert killed["state"] == "failed" and cancelled["state"] == "cancelled"
    for job, ended in ((killed, killed_at), (cancelled, cancelled_at)):
        assert job["started_at"] is not None and job["ended_at"] <= ended + 0.5, job
        assert job["duration"] == job["ended_at"] - job["started_at"]
        assert job["duration"] < asked_at - job["started_at"] - 1, "not counted up to now"


def test_each_earlier_run_of_a_job_its_queue_ran_again_ends_as_its_files_say() -> None:
    """Slurm's requeue or preemption: every run before the latest is an attempt of its own.
    One that wrote a result ended as that says (a requeue after it completed); one that did
    not failed, saying its queue ran it again, and when it started if it did."""
    runs = [
        RunFiles(started=Started(1, 5.0, output_dir="/out/0")),
        RunFiles(result=result("completed")),
        RunFiles(),
        RunFiles(result_problem="is corrupt"),
    ]
    rerun = decide_rerun(job(RUNNING), "Slurm", runs)
    assert (rerun.job_id, rerun.version, rerun.seen) == (1, 3, RUNNING)
    ended = [(u.state, u.reason, u.started_at) for u in rerun.ended]
    assert ended == [
        (JobState.FAILED, "Slurm ran it again (requeued or preempted) before this run wrote a "
         "result", 5.0),
        (JobState.COMPLETED, None, 1.0),
        (JobState.FAILED, "Slurm ran it again (requeued or preempted) before this run started",
         None),
        (JobState.FAILED, "is corrupt", None),
    ]  # fmt: skip
    assert rerun.ended[0].output_dir == "/out/0"


def test_an_ended_row_with_a_reason_says_it() -> None:
    timeout = row(RowState.ENDED, exit_code=0, reason="hit its time limit (TIMEOUT)")
    update = decide(job(RUNNING), seen(row=timeout))
    assert update is not None and update.state == JobState.FAILED
    assert update.reason == "hit its time limit (TIMEOUT) before it wrote a result"
