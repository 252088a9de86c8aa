"""`hydra/sweeper=tsq`: the basic sweeper's grid, queued without composing every job; each job
composes its own config from what the launch froze (`tsq.launch.sweeper`, `tsq.job.compose`).

Real apps (`tests/apps/composed.py`), real ts, real Slurm: the configs the jobs write are
compared file by file with those of the same sweep under Hydra's basic sweeper.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from slurm import SlurmCluster
from sweeps import Sandbox, by_num, debian_only

SWEPT = ["model=small,large", "+extra=a,b", "x=range(2,4)", "optim.lr=0.1"]
# `${now:}` in the subdir: each job resolves it as it runs (under either sweeper), so the
# output dirs differ by their time; everything else must be the same.
SUBDIR = "hydra.sweep.subdir=${hydra.job.num}_${now:%H%M%S%f}"


def outside_confs(box: Sandbox) -> tuple[Path, Path]:
    """Two config dirs outside the app's project: `shared/` (group `extra`), on the search
    path through `hydra.searchpath`, and `cli/` (group `loss`), through `--config-dir`."""
    shared, cli = box.root / "shared", box.root / "cli"
    (shared / "extra").mkdir(parents=True, exist_ok=True)
    for name in "ab":
        (shared / "extra" / f"{name}.yaml").write_text(f"value: {name}\nmessage: shared-{name}\n")
    (cli / "loss").mkdir(parents=True, exist_ok=True)
    (cli / "loss" / "l1.yaml").write_text("kind: l1\nweight: 0.5\n")
    return shared, cli


def composed_sweep(box: Sandbox, *overrides: str, check: bool = True, tsq: bool = True):
    """`composed.py` swept over `SWEPT`, with groups from both `outside_confs`."""
    sweeper = ["hydra/sweeper=tsq"] if tsq else []
    shared, cli = outside_confs(box)
    searchpath = f"hydra.searchpath=[file://{shared}]"
    return box.run(
        [
            sys.executable, "composed.py", f"--config-dir={cli}", "-m", "hydra/launcher=ts",
            f"hydra.sweep.dir={box.root}/multirun/${{now:%H-%M-%S-%f}}",
            *sweeper, searchpath, SUBDIR, *SWEPT, "+loss=l1", *overrides,
        ],
        check=check,
    )  # fmt: skip


def hydra_files(job: dict[str, Any]) -> dict[str, Any]:
    """A job's `.hydra/` files as Hydra wrote them, with what differs between two sweeps of the
    same grid by construction put aside: the sweep's id (in `hydra.job.id`), the output dir
    (the subdir's `${now:}`, resolved as the job ran), and the sweeper's own choice and node."""
    hydra_dir = Path(job["output_dir"]) / ".hydra"
    files = {
        name: yaml.safe_load((hydra_dir / f"{name}.yaml").read_text())
        for name in ("config", "hydra", "overrides")
    }
    hydra = files["hydra"]["hydra"]
    # ts: `<sweep id>_<num>`; Slurm: the task's own id, `<array id>_<task>`, as submitit's.
    ids = (f"{job['sweep']}_{job['num']}", f"{job['queue_id']}_{job['num']}")
    assert hydra["job"]["id"] in ids
    assert hydra["job"]["num"] == job["num"]
    assert re.fullmatch(rf".*/{job['num']}_\d{{12}}", hydra["runtime"]["output_dir"])
    hydra["job"]["id"] = hydra["runtime"]["output_dir"] = "<differs by construction>"
    assert hydra["runtime"]["choices"].pop("hydra/sweeper") in ("basic", "tsq")
    hydra.pop("sweeper")
    launch = hydra["overrides"]["hydra"]
    hydra["overrides"]["hydra"] = [line for line in launch if line != "hydra/sweeper=tsq"]
    return files


def returned(box: Sandbox, sweep: str) -> dict[int, Any]:
    """Each job's resolved config, as its task saw it; `stamp` is `${now:%Y-%m-%d}`, the day
    the job ran."""
    items = json.loads(box.tsq("collect", "--json", sweep).stdout)
    values = {item["num"]: item["return_value"]["cfg"] for item in items}
    for value in values.values():
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", value.pop("stamp"))
    return values


def two_sweeps(jobs: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """The jobs of the basic sweeper's sweep and of the tsq sweeper's, told by their sweeper."""
    sweeps: dict[str, list[dict]] = {}
    for job in jobs:
        assert job["state"] == "completed", job
        sweeps.setdefault(job["sweep"], []).append(job)
    assert len(sweeps) == 2
    first, second = sweeps.values()
    overrides = (Path(first[0]["output_dir"]) / ".hydra" / "hydra.yaml").read_text()
    return (second, first) if "hydra/sweeper=tsq" in overrides else (first, second)


def assert_same_configs(box: Sandbox, jobs: list[dict[str, Any]]) -> None:
    basic, tsq = two_sweeps(jobs)
    assert len(basic) == len(tsq) == 8
    for sweep in (basic, tsq):  # in the sweep's dir, whose `${now:}` the launch resolved
        assert len({Path(job["output_dir"]).parent for job in sweep}) == 1
        assert (Path(sweep[0]["output_dir"]).parent / "multirun.yaml").exists()
    basic_files = {job["num"]: hydra_files(job) for job in basic}
    tsq_files = {job["num"]: hydra_files(job) for job in tsq}
    assert basic_files.keys() == tsq_files.keys() == set(range(8))
    for num in basic_files:
        assert tsq_files[num] == basic_files[num], f"job {num}"
    assert returned(box, tsq[0]["sweep"]) == returned(box, basic[0]["sweep"])
    # what was checked is what was meant: the grid's values, the search path's dirs
    assert basic_files[5]["overrides"] == [
        "model=large", "+extra=a", "x=3", "optim.lr=0.1", "+loss=l1",
    ]  # fmt: skip
    sources = tsq_files[0]["hydra"]["hydra"]["runtime"]["config_sources"]
    assert {"path": str(box.root / "shared"), "schema": "file",
            "provider": "hydra.searchpath in command-line"} in sources  # fmt: skip
    assert {"path": str(box.root / "cli"), "schema": "file", "provider": "command-line"} in sources
    assert basic_files[5]["config"]["name"] == "${model.name}-${x}"


@debian_only
def test_each_job_composes_the_config_the_basic_sweeper_composes(sandbox: Sandbox) -> None:
    """Config groups in the app's dir and in dirs outside the project (`hydra.searchpath`,
    `--config-dir`), interpolations,
    `${now:}`, a resolver and a ConfigStore node: the three `.hydra/` files of every job and
    the config its task got are the basic sweeper's, job for job."""
    composed_sweep(sandbox, tsq=False)
    out = composed_sweep(sandbox)
    assert "configs   : composed by each job as it starts" in out.stdout, out.stdout
    jobs = sandbox.wait_terminal()
    assert_same_configs(sandbox, jobs)


@debian_only
def test_edits_after_the_launch_do_not_reach_queued_jobs(sandbox: Sandbox) -> None:
    """The config dirs are frozen at launch: the app's own, and those outside its project."""
    blocker = sandbox.block_queue()
    composed_sweep(sandbox)
    conf = sandbox.app_dir / "composed_conf"
    config = conf / "config.yaml"
    config.write_text(config.read_text().replace("from-yaml", "edited"))
    (conf / "model" / "small.yaml").write_text("name: small\nwidth: 99\n")
    (conf / "model" / "medium.yaml").write_text("name: medium\nwidth: 1\n")
    (sandbox.root / "shared" / "extra" / "a.yaml").write_text("value: edited\nmessage: edited\n")
    (sandbox.root / "cli" / "loss" / "l1.yaml").write_text("kind: edited\nweight: 9\n")
    sandbox.release(blocker)
    jobs = sandbox.wait_terminal()
    values = returned(sandbox, jobs[0]["sweep"])
    assert len(values) == 8
    for value in values.values():
        assert value["message"] == "from-yaml"
        assert value["model"]["width"] in (8, 64)
        assert value["extra"]["message"] in ("shared-a", "shared-b")
        assert value["loss"] == {"kind": "l1", "weight": 0.5}


@debian_only
def test_a_job_whose_config_does_not_compose_fails_as_not_set_up(sandbox: Sandbox) -> None:
    """Composed in the job only (`compose_at_launch=1`: the launch composed job 0): job 1's
    config group option does not exist; it ends failed, exit 2, with Hydra's message."""
    sandbox.sweep(
        "hydra/sweeper=tsq", "hydra.sweeper.compose_at_launch=1", "model=small,nosuch",
        script="composed.py",
    )  # fmt: skip
    jobs = by_num(sandbox.wait_terminal())
    assert jobs[0]["state"] == "completed"
    failed = jobs[1]
    assert failed["state"] == "failed" and failed["exit_code"] == 2, failed
    assert "could not be set up" in failed["reason"], failed["reason"]
    assert "Could not find 'model/nosuch'" in failed["reason"], failed["reason"]
    logs = sandbox.tsq("logs", f"{failed['sweep']}:1", check=False).stdout
    assert "could not be set up" in logs and "Available options in 'model'" in logs, logs


@debian_only
def test_a_bad_value_fails_the_launch_before_anything_is_queued(sandbox: Sandbox) -> None:
    """The launch composes jobs taking every swept value: job 3 has `model=nosuch`."""
    proc = sandbox.sweep(
        "hydra/sweeper=tsq", "x=1,2,3,4", "model=small,nosuch", script="composed.py", check=False
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "job 3 of the sweep (x=2 model=nosuch) does not compose, so nothing was queued" in (
        proc.stderr
    ), proc.stderr
    assert "Could not find 'model/nosuch'" in proc.stderr
    assert sandbox.tsp("-l").stdout.splitlines()[1:] == [], "nothing queued"
    assert sandbox.status() == [], "nothing recorded"


@debian_only
def test_a_retry_composes_again_in_the_first_attempts_dir(sandbox: Sandbox) -> None:
    """`tsq retry` of a job that composes its own config: the same config, the same dir
    (its subdir names the time it first ran)."""
    sandbox.sweep(
        "hydra/sweeper=tsq", SUBDIR, "x=1,2", "fail=false,once",
        "marker_dir=${hydra:runtime.cwd}/markers",
    )  # fmt: skip
    first = by_num(sandbox.wait_terminal())
    assert [first[n]["state"] for n in range(4)] == ["completed", "failed"] * 2
    sandbox.tsq("retry", first[1]["sweep"], "--failed")
    again = by_num(sandbox.wait_terminal())
    assert [again[n]["state"] for n in range(4)] == ["completed"] * 4
    for num in (1, 3):
        assert again[num]["attempt"] == 2
        assert again[num]["output_dir"] == first[num]["output_dir"]


@debian_only
def test_a_dry_run_lists_the_jobs_and_queues_nothing(sandbox: Sandbox) -> None:
    proc = sandbox.sweep("hydra/sweeper=tsq", "x=1,2,3", "+tag=a,b", "hydra.launcher.dry_run=true")
    said = proc.stdout + proc.stderr
    assert "tsq: dry run: 6 jobs of app would be queued in task-spooler" in said, said
    for num, overrides in enumerate(f"x={x} +tag={t}" for x in (1, 2, 3) for t in "ab"):
        assert f"\t{num}  {overrides}\n" in said
    assert "job 0's config:" in said and "\t  x: 1\n" in said
    assert sandbox.tsp("-l").stdout.splitlines()[1:] == [], "nothing queued"
    assert not list((sandbox.root / "multirun").glob("*/.tsq")), "no sweep dir claimed"


# --- Slurm -----------------------------------------------------------------------------------


@debian_only
def test_on_slurm_each_job_composes_the_basic_sweepers_config(
    slurm_sandbox: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    box = slurm_sandbox
    for tsq in (False, True):
        composed_sweep(
            box,
            "hydra/launcher=tsq_slurm",
            f"hydra.launcher.name={slurm_cluster.job_name('composed')}",
            tsq=tsq,
        )
    assert_same_configs(box, box.wait_terminal())
    assert len({job["queue_id"] for job in box.status()}) == 2, "one array a sweep"


@debian_only
def test_a_grid_larger_than_a_part_is_queued_in_parts_each_job_once(sandbox: Sandbox) -> None:
    """1,200 jobs: two parts (spec, launch record, store transaction each), numbered and
    recorded once each, 500 in ts (`max_queued`), the rest held for the feeder; one report."""
    blocker = sandbox.block_queue()
    out = sandbox.sweep("hydra/sweeper=tsq", "x=range(0,1200)").stdout
    assert out.count("tsq: queued 500 jobs of sweep") == 1, out
    assert "700 more jobs wait in the store (max_queued=500)" in out
    jobs = sandbox.status()
    sweep = jobs[0]["sweep"]
    try:
        assert sorted(job["num"] for job in jobs) == list(range(1200))
        assert all(job["overrides"] == [f"x={job['num']}"] for job in jobs)
        assert sum(job["queue_id"] is not None for job in jobs) == 500
        spool = next((sandbox.root / "multirun").glob(f"*/.tsq/{sweep}"))
        assert sorted(p.name for p in spool.glob("spec-*.pkl")) == ["spec-0.pkl", "spec-1000.pkl"]
        assert len(list(spool.glob("record-*.json"))) == 2
    finally:
        sandbox.tsq("cancel", sweep)  # the feeder ends with no job held
        sandbox.release(blocker)


@debian_only
def test_with_hydras_basic_launcher_the_jobs_run_in_process(sandbox: Sandbox) -> None:
    """Any launcher takes the sweeper's batches: Hydra's own composes and runs each job."""
    sweep_dir = sandbox.root / "basic"
    sandbox.run([sys.executable, "app.py", "-m", "hydra/sweeper=tsq", "x=1,2", "db=sqlite,postgres",
                 f"hydra.sweep.dir={sweep_dir}"])  # fmt: skip
    for num, overrides in enumerate(["x=1 db=sqlite", "x=1 db=postgres", "x=2 db=sqlite",
                                     "x=2 db=postgres"]):  # fmt: skip
        written = yaml.safe_load((sweep_dir / str(num) / ".hydra" / "overrides.yaml").read_text())
        assert written == overrides.split()
    assert sandbox.status() == [], "tsq recorded nothing"
