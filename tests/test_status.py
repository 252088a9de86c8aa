"""How status decides a job's state: the pure policy, then the faults it must read right."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sweeps import Sandbox, by_num

from tsq.results import ResultSummary
from tsq.states import TRANSITIONS, JobState, can_transition
from tsq.status import Listing, Observation, decide, match_row
from tsq.store import Job
from tsq.tslist import TsInfo, TsJob


def job(
    state: str = "queued",
    ts_id: int | None = 4,
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
        ts_id=ts_id,
        state=state,
        intent=intent,
        lease=lease,
        server_id=server_id,
    )


def listed(*rows: TsJob) -> Listing:
    return Listing(alive=True, rows={r.id: r for r in rows})


def row(state: str, *, id: int = 4, label: str = "app/abc/0", elevel: int | None = None) -> TsJob:
    return TsJob(
        id=id,
        state=state,
        output=None,
        elevel=elevel,
        real_time=None,
        label=label,
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


def test_terminal_states_never_change() -> None:
    for state in JobState:
        for target in JobState:
            allowed = can_transition(state, target)
            if state.terminal:
                assert allowed == (state == target)
            else:
                assert allowed == (target == state or target in TRANSITIONS[state])
    assert can_transition(JobState.QUEUED, JobState.RUNNING)
    assert not can_transition(JobState.RUNNING, JobState.QUEUED)


def test_result_file_decides_over_ts() -> None:
    update = decide(job("running"), Observation(ts_row=row("running"), result=result()))
    assert update is not None and update.state == JobState.COMPLETED
    assert (update.exit_code, update.output_dir, update.ended_at) == (0, "/out/0", 2.0)
    failed = decide(job(), Observation(result=result("failed", "ValueError: x")))
    assert failed is not None and (failed.state, failed.reason) == (
        JobState.FAILED,
        "ValueError: x",
    )


def test_unusable_result_file_fails_the_job_with_the_reason() -> None:
    update = decide(
        job("running"),
        Observation(ts_row=row("finished", elevel=0), result_problem="result file x is corrupt"),
    )
    assert update is not None and update.state == JobState.FAILED
    assert update.reason == "result file x is corrupt"


def test_ts_states_map_to_job_states() -> None:
    assert decide(job(), Observation(ts_row=row("queued"))) is None
    running = decide(
        job(), Observation(ts_row=row("running"), started={"started_at": 5.0, "output_dir": "/o"})
    )
    assert running is not None and running.state == JobState.RUNNING
    assert (running.started_at, running.output_dir) == (5.0, "/o")
    skipped = decide(job(), Observation(ts_row=row("skipped")))
    assert skipped is not None and skipped.state == JobState.CANCELLED


def test_finished_without_result_reports_exit_code_or_signal() -> None:
    by_level = decide(job("running"), Observation(ts_row=row("finished", elevel=-56)))
    assert by_level is not None and by_level.state == JobState.FAILED
    assert by_level.exit_code == 200 and "exited with code 200" in (by_level.reason or "")
    killed = decide(
        job("running"),
        Observation(
            ts_row=row("finished", elevel=-1), ts_info=TsInfo(exit_code=None, signal=9, state=None)
        ),
    )
    assert killed is not None and killed.signal == 9
    assert "killed by SIGKILL" in (killed.reason or "")


def test_a_reused_ts_id_is_not_taken_for_the_job() -> None:
    reused = listed(row("running", id=4, label="other/xyz/0"))
    assert match_row(job(), reused) is None
    update = decide(job(), Observation(ts_row=match_row(job(), reused), server_alive=True))
    assert update is not None and update.state == JobState.LOST
    assert "no longer lists job 4" in (update.reason or "")
    assert match_row(job(), listed(row("queued"))) == row("queued")


def test_a_job_found_by_label_gets_its_ts_id_recorded() -> None:
    found = match_row(job(ts_id=None), listed(row("queued", id=9)))
    assert found is not None
    update = decide(job(ts_id=None), Observation(ts_row=found, server_id="unix:7"))
    assert update is not None and (update.state, update.ts_id) == (JobState.QUEUED, 9)
    assert update.server_id == "unix:7", "and the server it was found in"


def test_updates_are_decided_from_the_row_version_read() -> None:
    update = decide(job("running"), Observation(result=result()))
    assert update is not None and (update.version, update.seen) == (3, JobState.RUNNING)


def test_gone_server_or_dead_command_make_jobs_lost() -> None:
    gone = decide(job(), Observation(server_alive=False, socket="/s"))
    assert gone is not None and gone.state == JobState.LOST and "/s is gone" in (gone.reason or "")
    queueing = job(ts_id=None, intent="submit", lease="L")
    assert decide(queueing, Observation(lease_held=True)) is None, (
        "a command still queueing its jobs is left alone"
    )
    never = decide(queueing, Observation(lease_held=False))
    assert never is not None and never.state == JobState.LOST and never.release
    assert "never queued" in (never.reason or "")
    alive = decide(
        job("running"),
        Observation(server_alive=False, runner_alive=True, started={"started_at": 3.0}),
    )
    assert alive is not None and alive.state == JobState.RUNNING, (
        "a job whose process still runs is not lost because ts forgot it"
    )


def test_a_live_lease_is_never_judged_from_the_queues_silence() -> None:
    for state, ts_id in (("queued", None), ("queued", 4), ("running", 4)):
        for intent in ("submit", "cancel"):
            claimed = job(state, ts_id, intent=intent, lease="L", server_id="unix:1")
            for obs in (
                Observation(lease_held=True),
                Observation(lease_held=True, server_alive=False),
                Observation(lease_held=True, server_id="unix:2"),
            ):
                assert decide(claimed, obs) is None, (state, ts_id, intent, obs)
    done = decide(job(intent="cancel", lease="L"), Observation(lease_held=True, result=result()))
    assert done is not None and done.state == JobState.COMPLETED, "a result is the truth"
    assert not done.release, "the live claim stays"


def test_a_cancel_that_died_leaves_true_records() -> None:
    cancelling = job("queued", intent="cancel", lease="L", server_id="unix:1")
    removed = decide(cancelling, Observation(server_id="unix:1"))
    assert removed is not None and removed.state == JobState.CANCELLED and removed.release
    not_reached = decide(cancelling, Observation(ts_row=row("queued")))
    assert not_reached is not None and not_reached.state == JobState.QUEUED
    assert not_reached.release, "its claim is cleared: the job goes on"
    killed = decide(
        job("running", intent="cancel", lease="L"),
        Observation(
            ts_row=row("finished", elevel=-1), ts_info=TsInfo(exit_code=None, signal=15, state=None)
        ),
    )
    assert killed is not None and killed.state == JobState.CANCELLED
    crashed = decide(
        job("running", intent="cancel", lease="L"),
        Observation(
            ts_row=row("finished", elevel=-1), ts_info=TsInfo(exit_code=None, signal=11, state=None)
        ),
    )
    assert crashed is not None and crashed.state == JobState.FAILED, "not the cancel's doing"


def test_a_missing_job_is_lost_only_on_evidence_of_a_new_server() -> None:
    queued = job("queued", server_id="unix:1")
    restarted = decide(queued, Observation(server_id="unix:2", socket="/s"))
    assert restarted is not None and restarted.state == JobState.LOST
    assert "was restarted" in (restarted.reason or "")
    removed = decide(queued, Observation(server_id="unix:1"))
    assert removed is not None and removed.state == JobState.CANCELLED, (
        "gone from the same server before it started: removed from the queue (ts -r)"
    )
    assert "removed from task-spooler's queue" in (removed.reason or "")
    ran = decide(
        job("running", server_id="unix:1"), Observation(server_id="unix:1", started={"pid": 1})
    )
    assert (
        ran is not None and ran.state == JobState.LOST and "no longer lists" in (ran.reason or "")
    )


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
    assert {j["ts_id"] for j in jobs} <= {1, 2}, "the ts ids they had, not the new jobs'"
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


def _wait_ts_idle(sandbox: Sandbox, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while any(s in sandbox.tsp("-l").stdout for s in (" queued ", " running ")):
        assert time.monotonic() < deadline, sandbox.tsp("-l").stdout
        time.sleep(0.2)


def _restart_server(sandbox: Sandbox, **env: str) -> None:
    sandbox.tsp("-K")
    deadline = time.monotonic() + 10
    while Path(sandbox.socket).exists():
        assert time.monotonic() < deadline, "ts -K did not remove the socket"
        time.sleep(0.05)
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
    sandbox.sweep("x=3")  # a while later: another sweep launched and run to its end
    sandbox.wait_terminal()
    asked_at = time.time()
    jobs = by_num(sandbox.status())
    killed, cancelled = jobs[0], jobs[1]
    assert killed["state"] == "failed" and cancelled["state"] == "cancelled"
    for job, ended in ((killed, killed_at), (cancelled, cancelled_at)):
        assert job["started_at"] is not None and job["ended_at"] <= ended + 0.5, job
        assert job["duration"] == job["ended_at"] - job["started_at"]
        assert job["duration"] < asked_at - job["started_at"] - 1, "not counted up to now"
