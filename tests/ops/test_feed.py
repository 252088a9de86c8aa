"""Sweeps larger than a ts server holds: past `max_queued`, jobs wait in the store and are fed
to ts as the sweep's jobs there end (`tsq.ops.feed`); real ts, real store, real app."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from eventually import eventually
from procs import alive
from sweeps import Sandbox, by_num, debian_only

from tsq.ops.feed import FeedPlan, room
from tsq.states import JobState
from tsq.store import INTENT_HOLD, INTENT_SUBMIT, Job


def _job(num: int, state: JobState, intent: str | None = None) -> Job:
    return Job(num=num, overrides=[], label=f"a/b/{num}", state=state, intent=intent)


def test_room_is_max_queued_less_the_unfinished_jobs_not_held() -> None:
    jobs = [
        _job(0, JobState.RUNNING),
        _job(1, JobState.QUEUED),
        _job(2, JobState.QUEUED, INTENT_SUBMIT),  # being queued now: counts
        _job(3, JobState.COMPLETED),
        _job(4, JobState.QUEUED, INTENT_HOLD),
    ]
    assert room(FeedPlan(max_queued=5), jobs) == 2
    assert room(FeedPlan(max_queued=2), jobs) == 0, "never negative"


def _in_ts(sandbox: Sandbox, sweep: str) -> int:
    return sum(f"/{sweep}/" in line for line in sandbox.listing().splitlines())


def _feeder_pid(launched: subprocess.CompletedProcess[str]) -> int:
    found = re.search(r"feeder pid (\d+)", launched.stdout + launched.stderr)
    assert found, launched.stdout
    return int(found.group(1))


def test_a_sweep_larger_than_max_queued_runs_every_job(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    launched = sandbox.sweep("x=range(0,12)", "hydra.launcher.max_queued=4")
    said = launched.stdout + launched.stderr
    assert "queued 4 jobs" in said and "8 more jobs wait in the store" in said, said
    jobs = by_num(sandbox.status())
    sweep = jobs[0]["sweep"]
    assert [jobs[n]["state"] for n in range(12)] == ["queued"] * 12, "held is queued, not lost"
    assert [n for n in range(12) if jobs[n]["queue_id"] is None] == list(range(4, 12))
    assert _in_ts(sandbox, sweep) == 4
    sandbox.release(blocker)
    done = sandbox.wait_terminal()
    assert [j["state"] for j in done] == ["completed"] * 12
    assert len({j["queue_id"] for j in done}) == 12


@debian_only
def test_held_jobs_are_cancelled_where_they_wait(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    launched = sandbox.sweep("x=range(0,6)", "hydra.launcher.max_queued=2")
    sweep = sandbox.status()[0]["sweep"]
    said = sandbox.tsq("cancel", sweep).stdout
    assert "2 queued jobs removed from ts" in said and "4 jobs no longer in ts" in said, said
    sandbox.release(blocker)
    assert {j["state"] for j in sandbox.wait_terminal()} == {"cancelled"}
    pid = _feeder_pid(launched)
    # Nothing is held any more: it ends, and has fed nothing cancelled to ts meanwhile.
    eventually(lambda: not alive(pid), "the feeder to end", timeout=30)
    assert _in_ts(sandbox, sweep) == 0, "nothing cancelled was fed to ts afterwards"


@debian_only
def test_without_its_feeder_a_refresh_queues_the_held_jobs(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    launched = sandbox.sweep("x=range(0,6)", "hydra.launcher.max_queued=2")
    os.kill(_feeder_pid(launched), signal.SIGKILL)
    sandbox.release(blocker)
    sandbox.tsq("wait")
    assert [j["state"] for j in sandbox.status()] == ["completed"] * 6


def test_a_lost_store_is_adopted_with_its_held_jobs_held(sandbox: Sandbox) -> None:
    """The store is deleted while a sweep past `max_queued` runs: job 0 gone from ts, job 1
    fed to ts by then, job 2 still held in the store. `tsq adopt` records job 2 as held (not a
    job queued nowhere, which the refresh would call lost) and job 1 as held too, since its
    file says so; the refresh finds job 1 in ts by its label and lets go of its hold, so it is
    never fed a second time. Each runs once, to the end."""
    blocker = sandbox.block_queue()
    launched = sandbox.sweep("x=range(0,3)", "hydra.launcher.max_queued=1")
    feeder = _feeder_pid(launched)
    os.kill(feeder, signal.SIGKILL)
    eventually(lambda: not alive(feeder), "the feeder to be gone")
    jobs = by_num(sandbox.status())
    sweep = jobs[0]["sweep"]
    sandbox.tsp("-r", str(jobs[0]["queue_id"]))  # job 0 leaves ts: room for job 1
    fed = eventually(
        lambda: by_num(sandbox.status()),
        "the refresh to feed job 1",
        until=lambda now: now[1]["queue_id"] is not None,
    )
    assert fed[2]["queue_id"] is None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sandbox.store}{suffix}").unlink(missing_ok=True)

    (spool,) = sandbox.root.glob(f"multirun/**/.tsq/{sweep}")
    adopted = sandbox.tsq("adopt", str(spool)).stdout
    assert adopted == f"sweep {sweep}: adopted 3 jobs (1 lost, 2 queued)\n", adopted
    sandbox.release(blocker)
    done = by_num(sandbox.wait_terminal())
    assert [done[n]["state"] for n in range(3)] == ["lost", "completed", "completed"]
    labels = [line for line in sandbox.listing().splitlines() if f"/{sweep}/" in line]
    assert [sum(f"/{sweep}/{n}]" in line for line in labels) for n in range(3)] == [0, 1, 1], (
        "jobs 1 and 2 queued once each"
    )
