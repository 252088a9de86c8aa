"""Launching a sweep: the prompt comes back with every job queued and recorded."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest
from postgres import SECRET_PASSWORD, Database
from sweeps import Sandbox, by_num

PLUGINS = Path(__file__).parents[1] / "plugins"


def test_launch_returns_with_every_job_queued_and_recorded(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    marker = sandbox.root / "markers"
    proc = sandbox.sweep(
        "x=1,2,3",
        "+hydra.callbacks.m._target_=__main__.Markers",
        f"+hydra.callbacks.m.marker_dir={marker}",
    )
    jobs = sandbox.status()
    assert [j["state"] for j in jobs] == ["queued"] * 3
    assert [j["overrides"] for j in jobs] == [["x=1"], ["x=2"], ["x=3"]]
    sweep = jobs[0]["sweep"]
    listed = {row.split()[0]: row for row in sandbox.tsp("-l").stdout.splitlines()[1:]}
    for job in jobs:
        assert job["queue_id"] is not None and job["queue_id"] != blocker
        assert f"[app/{sweep}/{job['num']}]" in listed[str(job["queue_id"])]
        assert " queued " in listed[str(job["queue_id"])]
    out = proc.stdout + proc.stderr
    for expected in (
        f"queued 3 jobs of sweep {sweep}",
        "sweep dir : ",
        sandbox.socket,
        f"python -m tsq status {sweep}",
        f"python -m tsq collect {sweep}",
    ):
        assert expected in out
    assert (marker / "multirun_end").exists(), "on_multirun_end must still fire"
    assert not any(marker.glob("job_start_*")), "no job may have run before launch returned"
    sandbox.release(blocker)
    done = by_num(sandbox.wait_terminal())
    assert {n: j["state"] for n, j in done.items()} == {
        0: "completed",
        1: "completed",
        2: "completed",
    }


def test_sweep_and_spool_files_are_private(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1")
    sandbox.wait_terminal()
    spool = next((sandbox.root / "multirun").glob("*/.tsq/*"))
    private = [spool, spool / "jobs", spool / "spec-0.pkl", spool / "jobs" / "0.pkl"]
    private += [spool / "jobs" / "0.json", spool / "jobs" / "0.started.json"]
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in private}
    assert modes == {
        spool.name: 0o700,
        "jobs": 0o700,
        "spec-0.pkl": 0o600,  # the job's config: may hold secrets
        "0.pkl": 0o600,  # its return value
        "0.json": 0o600,
        "0.started.json": 0o600,
    }
    assert {p.name for p in spool.rglob("*.pkl")} == {"spec-0.pkl", "0.pkl"}, "no other pickle"


def _nothing_recorded(sandbox: Sandbox) -> None:
    assert (
        not sandbox.store.exists()
        or not sqlite3.connect(sandbox.store).execute("select count(*) from sweeps").fetchone()[0]
    )
    rows = sandbox.tsp("-l").stdout.splitlines()[1:]
    assert rows == [], rows


def _one_line_error(proc, *fragments: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    line = next(line for line in proc.stderr.splitlines() if line.startswith("tsq: "))
    for fragment in fragments:
        assert fragment in line, proc.stderr


def test_adaptive_sweeper_is_refused_before_anything_is_queued(sandbox: Sandbox) -> None:
    target = "hydra_plugins.tsq_test_sweeper.other_sweeper.OtherSweeper"
    proc = sandbox.sweep(
        "x=1,2", f"hydra.sweeper._target_={target}", check=False, env={"PYTHONPATH": str(PLUGINS)}
    )
    _one_line_error(proc, target, "hydra.launcher.wait=true")
    _nothing_recorded(sandbox)


def test_missing_task_spooler_is_a_clear_error(sandbox: Sandbox) -> None:
    proc = sandbox.sweep("x=1", check=False, env={"PATH": str(sandbox.root / "empty")})
    _one_line_error(proc, "task-spooler is not installed", "apt-get install task-spooler")
    _nothing_recorded(sandbox)


def test_moreutils_ts_is_not_taken_for_task_spooler(sandbox: Sandbox) -> None:
    fake = sandbox.root / "bin"
    fake.mkdir()
    (fake / "ts").write_text("#!/bin/sh\necho 'usage: ts [-r] [-i | -s] [format]'\n")
    (fake / "ts").chmod(0o755)
    proc = sandbox.sweep("x=1", check=False, env={"PATH": str(fake)})
    _one_line_error(proc, "is not task-spooler")
    _nothing_recorded(sandbox)


def test_store_that_cannot_be_created_is_a_clear_error(sandbox: Sandbox) -> None:
    blocker_file = sandbox.root / "a-file"
    blocker_file.write_text("not a directory")
    proc = sandbox.sweep(
        "x=1", check=False, env={"TSQ_STORE": str(blocker_file / "sub" / "tsq.db")}
    )
    _one_line_error(proc, str(blocker_file / "sub"))
    _nothing_recorded(sandbox)


def test_file_that_is_not_a_store_is_refused(sandbox: Sandbox) -> None:
    not_a_store = sandbox.root / "notes.db"
    not_a_store.write_text("my notes, not a database\n" * 100)
    proc = sandbox.sweep("x=1", check=False, env={"TSQ_STORE": str(not_a_store)})
    _one_line_error(proc, str(not_a_store), "not a tsq store")
    assert not_a_store.read_text() == "my notes, not a database\n" * 100
    _nothing_recorded(sandbox)


def test_unpicklable_task_is_refused_before_anything_is_queued(sandbox: Sandbox) -> None:
    proc = sandbox.sweep("+x=1,2", check=False, script="locked.py")
    _one_line_error(proc, "cannot be pickled")
    _nothing_recorded(sandbox)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("hydra.launcher.gpus=1", "needs the GPU fork of task-spooler"),
        ("hydra.launcher.slots=0", "slots must be >= 1"),
    ],
)
def test_options_this_setup_cannot_honour_are_refused_up_front(
    sandbox: Sandbox, override: str, message: str
) -> None:
    if override.endswith("gpus=1") and sandbox.variant == "fork":
        message = "is a CPU build of the GPU fork of task-spooler (`make cpu`: it has no -G"
    proc = sandbox.sweep("x=1,2", override, check=False)
    _one_line_error(proc, message)
    _nothing_recorded(sandbox)


def test_slots_key_reaches_ts(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    sandbox.sweep("x=1", "hydra.launcher.slots=2")
    queue_id = sandbox.status()[0]["queue_id"]
    assert "Slots required: 2" in sandbox.tsp("-i", str(queue_id)).stdout
    sandbox.release(blocker)


@pytest.mark.fresh_store  # and none is made: the launcher option names another
def test_launch_status_collect_on_postgresql(sandbox: Sandbox, pg_database: Database) -> None:
    """A real Hydra app launched with `hydra.launcher.store=postgresql://...` (password in the
    URL), followed and collected with --store: every job recorded there, none in the SQLite
    store of $TSQ_STORE, and the password printed nowhere."""
    url = pg_database.secret_url
    launched = sandbox.sweep("x=1,2,3", f"hydra.launcher.store={url}")
    said = launched.stdout + launched.stderr
    assert SECRET_PASSWORD not in said
    public = url.replace(f":{SECRET_PASSWORD}@", "@")
    assert f"store     : {public}" in said
    assert "follow    : python -m tsq status" in said and f"--store {public}" in said
    assert not sandbox.store.exists(), "$TSQ_STORE is not where the launcher option points"

    sandbox.env["TSQ_STORE"] = url
    jobs = sandbox.wait_terminal()
    assert [(j["num"], j["state"]) for j in jobs] == [(0, "completed"), (1, "completed"),
                                                        (2, "completed")]  # fmt: skip
    collected = json.loads(sandbox.tsq("collect", "--json", "--store", url).stdout)
    assert {row["num"]: row["overrides"] for row in collected} == {
        n: [f"x={n + 1}"] for n in range(3)
    }
    assert by_num(collected)[2]["error"] is None
    assert not sandbox.store.exists()
