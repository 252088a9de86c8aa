"""Hydra's default sweep dir has one-second resolution: sweeps launched back to back each get
their own (`tsq.launch.defaultdir`), while a dir the user chose keeps the refusal of a dir in
use. The app `sameclock.py` stands its clock still, so that its launches always fall in one
second."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import hydra
import yaml
from slurm import SlurmCluster
from sweeps import Sandbox, debian_only

from tsq.launch.defaultdir import HYDRA_DEFAULT

NOW = {"FROZEN_NOW": "2026-01-02T03:04:05"}
DEFAULT = "multirun/2026-01-02/03-04-05"  # Hydra's default dir, resolved at NOW


def launch(
    sandbox: Sandbox, *overrides: str, launcher: str = "ts", check: bool = True
) -> subprocess.CompletedProcess:
    """`python sameclock.py -m ...` with no sweep dir given, unlike `Sandbox.sweep`."""
    argv = [sys.executable, "sameclock.py", "-m", f"hydra/launcher={launcher}", *overrides]
    return sandbox.run(argv, env=NOW, check=check)


def returns(sandbox: Sandbox) -> dict[int, dict[str, Any]]:
    """x -> what the job returned: the sweep dir and output dir it ran with."""
    sweeps = dict.fromkeys(job["sweep"] for job in sandbox.status())
    rows = [row for s in sweeps for row in json.loads(sandbox.tsq("collect", s, "--json").stdout)]
    return {row["return_value"]["x"]: row["return_value"] for row in rows}


def test_tsq_knows_hydras_default_sweep_dir() -> None:
    output = Path(hydra.__file__).parent / "conf" / "hydra" / "output" / "default.yaml"
    assert yaml.safe_load(output.read_text())["sweep"]["dir"] == HYDRA_DEFAULT


def test_sweeps_launched_in_one_second_into_hydras_default_dir_each_get_their_own(
    sandbox: Sandbox,
) -> None:
    base = sandbox.app_dir / DEFAULT
    blocker = sandbox.block_queue()  # the first sweep is still in use when the second launches
    first = launch(sandbox, "+x=1,2")
    second = launch(sandbox, "+x=3")
    assert "made unique" not in first.stdout + first.stderr
    said = second.stdout + second.stderr
    assert f"sweep dir : {base}-2\n" in said
    assert "made unique: Hydra's default 03-04-05 was taken by a launch in the same second" in said
    sandbox.release(blocker)
    jobs = sandbox.wait_terminal()
    assert [j["state"] for j in jobs] == ["completed"] * 3
    recorded = {j["overrides"][0]: j["output_dir"] for j in jobs}
    assert recorded["+x=3"] == f"{base}-2/0", "the store records where the job ran"

    got = returns(sandbox)
    assert [got[x]["sweep_dir"] for x in (1, 2, 3)] == [DEFAULT, DEFAULT, f"{DEFAULT}-2"]
    assert [got[x]["output_dir"] for x in (1, 2, 3)] == [
        f"{base}/0",
        f"{base}/1",
        f"{base}-2/0",
    ], "the jobs run in the sweep's own dir"
    multirun = yaml.safe_load((Path(f"{base}-2") / "multirun.yaml").read_text())
    assert multirun["hydra"]["sweep"]["dir"] == f"{DEFAULT}-2"
    assert f"hydra.sweep.dir={DEFAULT}-2" in multirun["hydra"]["overrides"]["hydra"]
    overrides = (base / "0" / ".hydra" / "overrides.yaml").read_text()
    assert "+x=1" in overrides, "the second sweep overwrote none of the first's job dirs"

    third = launch(sandbox, "+x=4")  # both have ended: their dirs stay theirs all the same
    assert f"sweep dir : {base}-3\n" in third.stdout + third.stderr
    sandbox.wait_terminal()
    assert returns(sandbox)[4]["output_dir"] == f"{base}-3/0"


def test_a_sweep_dir_chosen_like_hydras_default_keeps_the_refusal(sandbox: Sandbox) -> None:
    """Told from the config, not the path: the same pattern given on the command line is the
    user's choice, and a second sweep into it while the first is in use is refused."""
    chosen = "hydra.sweep.dir=multirun/${now:%Y-%m-%d}/${now:%H-%M-%S}"
    blocker = sandbox.block_queue()
    launch(sandbox, "+x=1", chosen)
    refused = launch(sandbox, "+x=2", chosen, check=False)
    assert refused.returncode != 0
    assert f"tsq: the sweep dir {sandbox.app_dir / DEFAULT} is in use by tsq sweep" in (
        refused.stderr
    )
    assert not Path(f"{sandbox.app_dir / DEFAULT}-2").exists()
    sandbox.release(blocker)


@debian_only
def test_on_slurm_back_to_back_sweeps_each_get_their_own_default_dir(
    slurm_sandbox: Sandbox, slurm_cluster: SlurmCluster
) -> None:
    box = slurm_sandbox
    name = f"hydra.launcher.name={slurm_cluster.job_name('default-dir')}"
    for x in (1, 2):
        launch(box, f"+x={x}", name, launcher="tsq_slurm")
    for sweep in dict.fromkeys(job["sweep"] for job in box.status()):
        box.tsq("wait", sweep)
    got = returns(box)
    base = box.app_dir / DEFAULT
    assert (got[1]["output_dir"], got[2]["output_dir"]) == (f"{base}/0", f"{base}-2/0")
