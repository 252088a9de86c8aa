"""`hydra.launcher.reuse=true`: a job whose task config and code are those of a job that completed
in the same store is not queued; it is recorded completed with that job's result, which it owns.

Real sweeps of `tests/apps/metrics.py` (loss = 10 * lr + seed, `fail_seed` fails on purpose)
into a private task-spooler and into the one-node Slurm, on SQLite and PostgreSQL stores; the
key on its own at the end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from slurm import SlurmCluster
from sweeps import Sandbox, by_num, debian_only

REUSE = "hydra.launcher.reuse=true"


def sweep_of(launch: subprocess.CompletedProcess[str]) -> str:
    return launch.stdout.split(" of sweep ", 1)[1].split()[0]


def reused_line(launch: subprocess.CompletedProcess[str]) -> str:
    return next(line for line in launch.stdout.splitlines() if "reused    :" in line).strip()


def queued_in_ts(sandbox: Sandbox, sweep: str) -> list[int]:
    """The job numbers of `sweep` that task-spooler was given, from its own listing (labels
    `<task>/<sweep>/<num>`), ended or not."""
    return sorted(
        int(line.split(f"/{sweep}/", 1)[1].split("]")[0].split()[0].split("#")[0])
        for line in sandbox.listing().splitlines()
        if f"/{sweep}/" in line
    )


def collected(sandbox: Sandbox, sweep: str) -> list[tuple[int, str, Any]]:
    rows = json.loads(sandbox.tsq("collect", sweep, "--json", check=False).stdout)
    return [(r["num"], r["state"], (r["return_value"] or {}).get("loss")) for r in rows]


def python_collect(sandbox: Sandbox, sweep: str) -> list[tuple[list[str], str, Any]]:
    """`tsq.collect(sweep)`, in a process of its own, from another directory: overrides,
    status and the returned loss (or the error) of each JobReturn."""
    probe = textwrap.dedent(f"""
        import json, tsq
        out = []
        for r in tsq.collect({sweep!r}):
            try:
                value = r.return_value["loss"]
            except Exception as e:
                value = f"{{type(e).__name__}}: {{e}}"
            out.append([r.overrides, r.status.name, value])
        print(json.dumps(out))
    """)
    return [tuple(item) for item in json.loads(sandbox.python(probe))]


def page_losses(sandbox: Sandbox, sweep: str) -> list[float | None]:
    """What the page (`tsq ui`, `tsq report`) plots of `sweep`: its jobs' losses, in job order."""
    from tsq.store import Store
    from tsq.ui.data import Results, job_rows, sweep_payload

    store = Store.open(sandbox.env["TSQ_STORE"])
    try:
        found = store.find_sweep(sweep)
        return sweep_payload(found, job_rows(store, found.id), Results())["values"]["loss"]
    finally:
        store.close()


# The launcher's work is the same whatever ts runs the jobs: one variant is enough.
@debian_only
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_extending_a_grid_queues_only_the_new_jobs_and_owns_the_reused_results(
    sandbox: Sandbox, engine: str, request: pytest.FixtureRequest
) -> None:
    """`seed=0,1,2` then `seed=0,1,2,3,4` with reuse: the two completed jobs are reused, the
    failed one and the two new ones are queued. Every reader sees five jobs of the second
    sweep, and still does once the first is forgotten and its dir removed.
    (Mutations checked: `take_results` returning nothing, the lookup not filtering
    `completed`, the results symlinked instead of linked or copied.)"""
    if engine == "postgresql":
        sandbox.env["TSQ_STORE"] = request.getfixturevalue("pg_database").url
        sandbox.env["TSQ_SNAPSHOTS"] = str(sandbox.root / "snapshots")
    first = sweep_of(sandbox.sweep("seed=0,1,2", "fail_seed=1", script="metrics.py"))
    sandbox.wait_terminal()
    out = sandbox.sweep("seed=0,1,2,3,4", "fail_seed=1", REUSE, script="metrics.py")
    second = sweep_of(out)
    assert "queued 3 jobs" in out.stdout
    assert reused_line(out) == (
        "reused    : 2 jobs completed before with the same config and code, not queued "
        f"(2 from sweep {first})"
    )
    assert queued_in_ts(sandbox, second) == [1, 3, 4], "only the failed job and the new ones"
    jobs = by_num([j for j in sandbox.wait_terminal() if j["sweep"] == second])
    assert {n: (j["state"], j["reason"]) for n, j in jobs.items() if n in (0, 2)} == {
        0: ("completed", f"reused from {first}:0"),
        2: ("completed", f"reused from {first}:2"),
    }
    assert jobs[1]["state"] == "failed", "a failed job is run again, not reused"
    assert (
        jobs[0]["output_dir"]
        == by_num([j for j in sandbox.status() if j["sweep"] == first])[0]["output_dir"]
    ), "a reused job's outputs are the original's"

    losses = [(0, "completed", 1.0), (1, "failed", None), (2, "completed", 3.0),
              (3, "completed", 4.0), (4, "completed", 5.0)]  # fmt: skip
    from_python = [
        (["seed=0", "fail_seed=1"], "COMPLETED", 1.0),
        (["seed=1", "fail_seed=1"], "FAILED", "RuntimeError: seed 1 diverged on purpose"),
        (["seed=2", "fail_seed=1"], "COMPLETED", 3.0),
        (["seed=3", "fail_seed=1"], "COMPLETED", 4.0),
        (["seed=4", "fail_seed=1"], "COMPLETED", 5.0),
    ]
    by_seed = json.loads(
        sandbox.tsq("collect", second, "--by", "fail_seed", "--json", check=False).stdout
    )
    [group] = by_seed["groups"]
    assert (group["jobs"], group["failed_nums"], group["metrics"]["loss"]["n"]) == (5, [1], 4)
    assert group["metrics"]["loss"]["mean"] == 3.25, "(1 + 3 + 4 + 5) / 4"

    first_dir = Path(next(j["output_dir"] for j in sandbox.status() if j["sweep"] == first))
    for forgotten in (False, True):
        assert collected(sandbox, second) == losses
        assert python_collect(sandbox, second) == from_python
        assert page_losses(sandbox, second) == [1.0, None, 3.0, 4.0, 5.0]
        if not forgotten:
            assert "forgot sweep" in sandbox.tsq("forget", first, "--yes").stdout
            shutil.rmtree(first_dir.parent)  # its sweep dir, with its spool dir and results
    assert [j["sweep"] for j in sandbox.status()] == [second] * 5


@debian_only
def test_another_config_or_an_edit_of_the_code_is_run_again(sandbox: Sandbox) -> None:
    """The key is the task config, not the overrides' text nor Hydra's runtime fields (each
    sweep has its own dir): `lr=0.1` spelled out is the default config and is reused, `lr=0.2`
    is not. After an edit of the app, nothing is.
    (Mutations checked: the key without the config; with the `hydra` node; without the code.)"""
    out = sandbox.sweep("seed=0,1", REUSE, script="metrics.py")
    first = sweep_of(out)
    assert reused_line(out) == (
        "reused    : none of 2 jobs: no completed job of the store has the same config and code"
    )
    sandbox.wait_terminal()

    out = sandbox.sweep("seed=0", "lr=0.1,0.2", REUSE, script="metrics.py")
    second = sweep_of(out)
    assert (
        "reused    : 1 job completed before" in out.stdout and f"from sweep {first}" in out.stdout
    )
    assert queued_in_ts(sandbox, second) == [1], "lr=0.2 is another config"

    app = sandbox.app_dir / "metrics.py"
    app.write_text(app.read_text() + "\n# an edit: the code is not the same any more\n")
    out = sandbox.sweep("seed=0,1", REUSE, script="metrics.py")
    third = sweep_of(out)
    assert "queued 2 jobs" in out.stdout and "reused    : none of 2 jobs" in out.stdout
    assert queued_in_ts(sandbox, third) == [0, 1]
    jobs = [j for j in sandbox.wait_terminal() if j["sweep"] == third]
    assert [(j["state"], j["reason"]) for j in jobs] == [("completed", None)] * 2
    assert python_collect(sandbox, second) == [
        (["seed=0", "lr=0.1"], "COMPLETED", 1.0),
        (["seed=0", "lr=0.2"], "COMPLETED", 2.0),
    ], "the reused job's JobReturn has its own overrides, not the original's (`seed=0`)"


@debian_only
def test_reuse_without_a_snapshot_is_refused_in_one_line(sandbox: Sandbox) -> None:
    """Without a snapshot, the code of two jobs cannot be compared: refused, nothing queued;
    a dry run refuses it too, and otherwise says that it cannot tell what would be reused."""
    for dry in ("false", "true"):
        refused = sandbox.sweep(
            "seed=0,1", REUSE, "hydra.launcher.snapshot=false", f"hydra.launcher.dry_run={dry}",
            script="metrics.py", check=False,
        )  # fmt: skip
        assert refused.returncode == 1
        assert (
            "tsq: hydra.launcher.reuse=true needs the code snapshot to tell that a job's code "
            "is the same, and there is none: snapshot=false; nothing was queued"
        ) in refused.stderr
        assert "Traceback" not in refused.stderr
    assert sandbox.listing().count("metrics/") == 0
    planned = sandbox.sweep("seed=0,1", REUSE, "hydra.launcher.dry_run=true", script="metrics.py")
    assert (
        "reuse=true: of these, those that completed before with the same config and code would "
        "be reused, not queued (a dry run opens no store to tell which)"
    ) in planned.stdout + planned.stderr


@debian_only
def test_slurm_queues_only_what_was_not_reused(
    slurm_box: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    box = slurm_box

    def launch(what: str, *overrides: str) -> subprocess.CompletedProcess[str]:
        return box.run([
            sys.executable, "metrics.py", "-m", "hydra/launcher=tsq_slurm",
            f"hydra.sweep.dir={box.root}/multirun/{what}",
            f"hydra.launcher.name={slurm_cluster.job_name(what)}", *overrides,
        ])  # fmt: skip

    first = sweep_of(launch("first", "seed=0,1"))
    box.wait_terminal()
    out = launch("second", "seed=0,1,2", REUSE)
    second = sweep_of(out)
    assert "queued 1 job of sweep" in out.stdout and "reused    : 2 jobs" in out.stdout
    jobs = by_num([j for j in box.wait_terminal() if j["sweep"] == second])
    assert [jobs[n]["queue_id"] is None for n in range(3)] == [True, True, False]
    assert [jobs[n]["reason"] for n in range(2)] == [
        f"reused from {first}:0",
        f"reused from {first}:1",
    ]
    assert collected(box, second) == [(0, "completed", 1.0), (1, "completed", 2.0),
                                      (2, "completed", 3.0)]  # fmt: skip


# -- the key on its own (the store's lookup: tests/store/test_reusable.py) ---------------------


def test_the_key_is_the_task_config_unresolved_and_its_number_only_when_it_is_used() -> None:
    from omegaconf import OmegaConf

    from tsq.launch.reuse import reuse_key, task_config

    def key(num: int, **task: Any) -> str | None:
        hydra = {"job": {"num": num}, "sweep": {"dir": f"multirun/{num}"}}
        return reuse_key("code", task_config(OmegaConf.create({**task, "hydra": hydra})), num)

    assert key(0, lr=0.1, out="${hydra:runtime.output_dir}") == key(
        7, lr=0.1, out="${hydra:runtime.output_dir}"
    ), "hydra's fields and their interpolations differ between sweeps; the task is the same"
    assert key(0, lr=0.1) != key(0, lr=0.2)
    assert key(0, seed="${hydra:job.num}") != key(1, seed="${hydra:job.num}")
    assert reuse_key("other code", task_config(OmegaConf.create({"lr": 0.1})), 0) != key(0, lr=0.1)
