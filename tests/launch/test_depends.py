"""`hydra.launcher.depends_on`: start a sweep after a ts job, or after every job of a sweep."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sweeps import Sandbox, by_num

from tsq.hosts import this_host
from tsq.store import Store, Sweep


def test_a_sweep_waits_for_every_job_of_the_sweep_it_depends_on(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()  # so the first sweep cannot end before the second launches
    sandbox.sweep("x=1", "sleep=2")
    first = sandbox.status()[0]["sweep"]
    sandbox.sweep("x=2,3", f"hydra.launcher.depends_on=sweep:{first[:6]}")
    listing = sandbox.listing()
    assert f"/after-{first}]" in listing, "the barrier job, labelled for what it waits for"
    sandbox.release(blocker)
    jobs = sandbox.wait_terminal()
    before = next(j for j in jobs if j["sweep"] == first)
    after = [j for j in jobs if j["sweep"] != first]
    assert {j["state"] for j in jobs} == {"completed"}
    assert all(j["started_at"] >= before["ended_at"] for j in after), (
        "two slots were free: only the dependency kept them from starting at once"
    )


def _gated(sandbox: Sandbox, label: str, exit_code: int) -> tuple[int, Path]:
    """A ts job that runs until the test creates its gate file, then exits `exit_code`; its ts
    id and its gate."""
    gate = sandbox.root / f"gate-{label}"
    script = f'while [ ! -e "{gate}" ]; do sleep 0.05; done; exit {exit_code}'
    return int(sandbox.tsp("-L", label, "sh", "-c", script).stdout), gate


def _held_while_it_runs(sandbox: Sandbox, sweep: str) -> None:
    """The sweep's job stays queued while the job it depends on runs, though a slot is free:
    a job queued after it, with no dependency, has run to its end, and ts starts queued jobs
    in order, so an independent sweep job would have started first."""
    witness = int(sandbox.tsp("-L", "witness", "true").stdout)
    sandbox.tsp("-w", str(witness))
    (job,) = [j for j in sandbox.status() if j["sweep"] == sweep]
    assert job["state"] == "queued", job


def test_a_sweep_after_a_ts_job_waits_for_it_then_runs_as_the_variant_says(
    sandbox: Sandbox,
) -> None:
    """`depends_on=ts:ID` is ts's `-D` on both variants, which differ after a failure: Debian's
    ts skips the dependent jobs (`cancelled`), the GPU fork runs them once the job has ended,
    whatever its exit (README, "task-spooler variants")."""
    good, gate = _gated(sandbox, "prep", 0)
    sandbox.sweep("x=1", f"hydra.launcher.depends_on=ts:{good}")
    assert f"[{good}]&& " in sandbox.listing()
    _held_while_it_runs(sandbox, sandbox.status()[0]["sweep"])
    gate.touch()
    done = sandbox.wait_terminal()
    assert done[0]["state"] == "completed"

    bad, gate = _gated(sandbox, "broken prep", 3)
    sandbox.sweep("x=2", f"hydra.launcher.depends_on=ts:{bad}")
    sweep = next(j["sweep"] for j in sandbox.status() if j["sweep"] != done[0]["sweep"])
    _held_while_it_runs(sandbox, sweep)
    opened = time.time()
    gate.touch()
    jobs = by_num([j for j in sandbox.wait_terminal() if j["sweep"] == sweep])
    if sandbox.variant == "debian":
        assert jobs[0]["state"] == "cancelled"
        assert "skipped by ts" in jobs[0]["reason"]
    else:
        assert jobs[0]["state"] == "completed"
        assert jobs[0]["started_at"] >= opened, "it waited for the failing job to end"


def test_an_unknown_dependency_is_refused_before_anything_is_queued(sandbox: Sandbox) -> None:
    for value, message in (
        ("77", "has no job 77"),
        ("nosuchsweep", "no sweep matches"),
        ("ts:77", "has no job 77"),
        ("ts:3f9a", "'3f9a' is not a ts job id"),
        ("sweep:77", "no sweep matches '77'"),
    ):
        proc = sandbox.sweep("x=1", f"hydra.launcher.depends_on={value}", check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert message in proc.stderr, proc.stderr
    assert sandbox.tsp("-l").stdout.splitlines()[1:] == []


def test_a_number_that_also_starts_a_sweep_id_is_refused_as_ambiguous(sandbox: Sandbox) -> None:
    """Sweep ids are hex: `depends_on=12` could be ts job 12 or sweep 12ab...; the explicit
    forms `ts:12` and `sweep:12` say which."""
    store = Store.open(sandbox.store)
    store.add_sweep(recorded_sweep("120000abcdef", sandbox), [])
    ts_job = int(sandbox.tsp("-L", "prep", "true").stdout)
    assert ts_job < 10, "a ts id that cannot also be the start of sweep 120000abcdef"
    queued = ts_ids(sandbox)
    proc = sandbox.sweep("x=1", "hydra.launcher.depends_on=12", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("tsq: ")]
    for reading in ("ts job 12", "sweep 120000abcdef", "depends_on=ts:12", "depends_on=sweep:12"):
        assert reading in line, line
    assert [sweep.id for sweep in store.sweeps()] == ["120000abcdef"], "nothing recorded"
    assert ts_ids(sandbox) == queued, "nothing queued"

    sandbox.sweep("x=2", "hydra.launcher.depends_on=sweep:12")
    # Explicit: the sweep just launched has a random id, which may start with this digit.
    sandbox.sweep("x=3", f"hydra.launcher.depends_on=ts:{ts_job}")
    assert f"[{ts_job}]&& " in sandbox.listing()
    jobs = sandbox.wait_terminal()
    assert sorted((j["overrides"], j["state"]) for j in jobs) == [
        (["x=2"], "completed"),
        (["x=3"], "completed"),
    ]


def ts_ids(sandbox: Sandbox) -> list[str]:
    return sorted(row.split()[0] for row in sandbox.tsp("-l").stdout.splitlines()[1:])


def recorded_sweep(sweep_id: str, sandbox: Sandbox) -> Sweep:
    """A finished sweep as the store records it, with the id the test needs."""
    sweep_dir = sandbox.root / "multirun" / "recorded"
    return Sweep(
        id=sweep_id,
        created_at=time.time(),
        task_name="app",
        app="app.py",
        cwd=str(sandbox.app_dir),
        sweep_dir=str(sweep_dir),
        spool_dir=str(sweep_dir / ".tsq" / sweep_id),
        backend_record={"binary": sandbox.binary, "socket": sandbox.socket},
        backend_variant=sandbox.backend_variant,
        launcher_pid=os.getpid(),
        hostname=this_host(),
        njobs=0,
    )
