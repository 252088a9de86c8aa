"""`hydra.launcher.depends_on`: start a sweep after a ts job, or after every job of a sweep."""

from __future__ import annotations

from sweeps import Sandbox, by_num


def test_a_sweep_waits_for_every_job_of_the_sweep_it_depends_on(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1", "sleep=2")
    first = sandbox.status()[0]["sweep"]
    sandbox.sweep("x=2,3", f"hydra.launcher.depends_on={first[:6]}")
    listing = sandbox.tsp("-l").stdout
    assert f"/after-{first}]" in listing, "the barrier job, labelled for what it waits for"
    jobs = sandbox.wait_terminal()
    before = next(j for j in jobs if j["sweep"] == first)
    after = [j for j in jobs if j["sweep"] != first]
    assert {j["state"] for j in jobs} == {"completed"}
    assert all(j["started_at"] >= before["ended_at"] for j in after), (
        "two slots were free: only the dependency kept them from starting at once"
    )


def test_a_sweep_after_a_ts_job_runs_when_it_ends_well_and_is_skipped_otherwise(
    sandbox: Sandbox,
) -> None:
    good = int(sandbox.tsp("-L", "prep", "sleep", "1").stdout)
    sandbox.sweep("x=1", f"hydra.launcher.depends_on={good}")
    assert f"[{good}]&& " in sandbox.tsp("-l").stdout
    done = sandbox.wait_terminal()
    assert done[0]["state"] == "completed"
    bad = int(sandbox.tsp("-L", "broken prep", "false").stdout)
    sandbox.sweep("x=2", f"hydra.launcher.depends_on={bad}")
    jobs = by_num([j for j in sandbox.wait_terminal() if j["sweep"] != done[0]["sweep"]])
    assert jobs[0]["state"] == "cancelled"
    assert "skipped by ts" in jobs[0]["reason"]


def test_an_unknown_dependency_is_refused_before_anything_is_queued(sandbox: Sandbox) -> None:
    for value, message in (("77", "has no job 77"), ("nosuchsweep", "no sweep matches")):
        proc = sandbox.sweep("x=1", f"hydra.launcher.depends_on={value}", check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert message in proc.stderr, proc.stderr
    assert sandbox.tsp("-l").stdout.splitlines()[1:] == []
