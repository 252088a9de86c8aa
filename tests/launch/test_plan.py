"""`hydra.launcher.dry_run=true`: the jobs a sweep would queue, printed; nothing queued or
recorded (`tsq.launch.plan`). Real app, real ts."""

from __future__ import annotations

import pytest
from sweeps import Sandbox, debian_only


@debian_only
@pytest.mark.fresh_store  # and none is made
def test_a_dry_run_lists_the_jobs_and_queues_and_records_nothing(sandbox: Sandbox) -> None:
    proc = sandbox.sweep("x=1,2,3", "+tag=a,b", "hydra.launcher.dry_run=true")
    said = proc.stdout + proc.stderr
    assert "tsq: dry run: 6 jobs of app would be queued in task-spooler" in said, said
    for num, overrides in enumerate(f"x={x} +tag={t}" for x in (1, 2, 3) for t in "ab"):
        assert f"\t{num}  {overrides}\n" in said
    assert "job 0's config:" in said and "\t  x: 1\n" in said and "\t  tag: a\n" in said
    assert "hydra:" not in said, "the app's part of the config only"
    assert not sandbox.store.exists(), "no store"
    assert sandbox.tsp("-l").stdout.splitlines()[1:] == [], "nothing queued"
    assert not list((sandbox.root / "multirun").glob("*/.tsq")), "no sweep dir claimed"


@debian_only
def test_a_dry_run_makes_the_refusals_a_launch_makes(sandbox: Sandbox) -> None:
    proc = sandbox.sweep(
        "x=1", "hydra.launcher.dry_run=true", "hydra.launcher.slots=99", check=False
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "slots" in proc.stderr and "dry run" not in proc.stdout + proc.stderr
