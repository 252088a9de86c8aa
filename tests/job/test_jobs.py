"""Each job runs as BasicLauncher would run it, in its own interpreter started by ts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from sweeps import Sandbox, by_num


def _results(sandbox: Sandbox) -> dict[int, dict]:
    return {
        item["num"]: item
        for item in json.loads(sandbox.tsq("collect", "--json", check=False).stdout)
    }


def test_job_gets_the_context_basic_launcher_gives(sandbox: Sandbox) -> None:
    marker = sandbox.root / "markers"
    sandbox.sweep(
        "x=1,2",
        "db=sqlite,postgres",
        "+optim=sgd",
        "+hydra.callbacks.m._target_=__main__.Markers",
        f"+hydra.callbacks.m.marker_dir={marker}",
    )
    jobs = by_num(sandbox.wait_terminal())
    assert [jobs[n]["state"] for n in range(4)] == ["completed"] * 4
    results = _results(sandbox)
    sweep = jobs[0]["sweep"]
    sweep_dir = Path(jobs[0]["output_dir"]).parent
    for num in range(4):
        value = results[num]["return_value"]
        out = sweep_dir / str(num)
        assert value["num"] == num
        assert value["id"] == f"{sweep}_{num}"
        assert value["output_dir"] == str(out) == jobs[num]["output_dir"]
        assert value["cwd"] == str(sandbox.app_dir), "version_base 1.3: no chdir"
        assert value["task_name"] == "app"
        assert value["double_x"] == 2 * value["x"], "the app's custom resolver"
        assert value["optim"] == {"name": "sgd", "momentum": 0.9}, "structured config in __main__"
        assert value["heavy_imports"] == [], "the job path must not import SQLAlchemy/alembic"
        hydra_files = {p.name for p in (out / ".hydra").iterdir()}
        assert hydra_files == {"config.yaml", "hydra.yaml", "overrides.yaml"}
        overrides = yaml.safe_load((out / ".hydra" / "overrides.yaml").read_text())
        assert overrides == jobs[num]["overrides"]
        hydra_yaml = yaml.safe_load((out / ".hydra" / "hydra.yaml").read_text())["hydra"]
        assert hydra_yaml["job"]["num"] == num
        sources = {s["path"] for s in hydra_yaml["runtime"]["config_sources"]}
        assert str(sandbox.app_dir / "conf") in sources, "the user's config dir, not the copy"
        assert f"job {num} running with x={value['x']}" in (out / "app.log").read_text()
        assert (marker / f"job_start_{num}").exists()
        assert (marker / f"job_end_{num}_COMPLETED").exists()
    assert [results[n]["return_value"]["db"] for n in range(4)] == [
        "sqlite",
        "postgres",
        "sqlite",
        "postgres",
    ]
    assert (marker / "multirun_end").exists()


def test_failures_are_recorded_with_their_cause(sandbox: Sandbox) -> None:
    sandbox.sweep("fail=false,true,unpicklable_value,unpicklable_error,exit", "x=7")
    jobs = by_num(sandbox.wait_terminal())
    results = _results(sandbox)
    assert jobs[0]["state"] == "completed"
    assert results[0]["error"] is None and results[0]["return_value"]["x"] == 7

    assert jobs[1]["state"] == "failed" and jobs[1]["exit_code"] == 1
    assert results[1]["error"] == "ValueError: asked to fail with x=7"

    assert jobs[2]["state"] == "failed"
    assert "cannot be pickled" in results[2]["error"]

    assert jobs[3]["state"] == "failed"
    assert results[3]["error"] == "UnpicklableError: boom with a handle"

    assert jobs[4]["state"] == "failed" and jobs[4]["exit_code"] == 3
    assert "exited with code 3 without writing a result" in jobs[4]["reason"]

    elevels = {}
    for row in sandbox.tsp("-l").stdout.splitlines()[1:]:
        fields = row.split()
        elevels[int(fields[0])] = int(fields[3])
    assert elevels[jobs[0]["queue_id"]] == 0
    assert elevels[jobs[1]["queue_id"]] == 1, "ts's exit level must agree with the failure"
    assert elevels[jobs[4]["queue_id"]] == 3


def test_overrides_reach_the_task_verbatim(sandbox: Sandbox) -> None:
    message = 'it\'s $(echo pwned) `id` ; "quoted" & | > <\nand a second line'
    sandbox.sweep(f"message='{message.replace(chr(39), chr(92) + chr(39))}'", "x=1,2")
    sandbox.wait_terminal()
    results = _results(sandbox)
    assert results[0]["return_value"]["message"] == message
    assert results[1]["return_value"]["message"] == message
    assert len(sandbox.tsp("-l").stdout.splitlines()) == 3, "one line per job in ts's list"


def test_job_environment_is_the_submitters(sandbox: Sandbox) -> None:
    """A job runs in the environment of the shell that launched the sweep, not in that of the
    process that queues it: its second attempt, queued by `tsq retry` from a shell where the
    variable has another value, still sees the launching shell's."""
    flags = sandbox.root / "flags"
    sandbox.sweep("x=1", "fail=once", f"marker_dir={flags}",
                  env={"TSQ_TEST_ENV": "from the launching shell"})  # fmt: skip
    [first] = sandbox.wait_terminal()
    assert first["state"] == "failed"
    sandbox.run([sys.executable, "-m", "tsq", "retry", first["sweep"]],
                env={"TSQ_TEST_ENV": "from the retrying shell"})  # fmt: skip
    [job] = sandbox.wait_terminal()
    assert (job["state"], job["attempt"]) == ("completed", 2)
    assert _results(sandbox)[0]["return_value"]["env"] == "from the launching shell"


def test_launcher_env_key_adds_to_the_jobs_environment(sandbox: Sandbox) -> None:
    sandbox.sweep(
        "x=1",
        "+hydra.launcher.env.TSQ_TEST_ENV=from the launcher config",
        env={"TSQ_TEST_ENV": "from the launching shell"},
    )
    sandbox.wait_terminal()
    assert _results(sandbox)[0]["return_value"]["env"] == "from the launcher config"
