"""Results come back later, from any shell or from Python."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap

from sweeps import Sandbox


def test_collect_table_json_and_unfinished_count(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1,2", "fail=false,true")
    sandbox.wait_terminal()
    blocker = sandbox.block_queue()
    sandbox.sweep("x=5,6")
    table = sandbox.tsq("collect", check=False)
    assert table.returncode == 0, "the latest sweep has nothing finished, so nothing failed"
    assert "2 of 2 jobs" in table.stderr and "not finished yet" in table.stderr
    first = next(j["sweep"] for j in sandbox.status() if j["overrides"] == ["x=1", "fail=False"])
    table = sandbox.tsq("collect", first[:6], check=False)
    assert table.returncode == 1, "a collected job failed"
    lines = table.stdout.splitlines()
    assert lines[1].split()[:6] == ["num", "state", "x", "fail", "return.x", "return.message"]
    assert lines[2].split()[:6] == ["0", "completed", "1", "False", "1", "from-yaml"]
    assert lines[3].split()[:4] == ["1", "failed", "1", "True"]
    assert "ValueError: asked to fail with x=1" in lines[3]
    rows = json.loads(sandbox.tsq("collect", first, "--json", check=False).stdout)
    assert [(r["sweep"], r["num"], r["state"], r["overrides"]) for r in rows] == [
        (first, 0, "completed", ["x=1", "fail=False"]),
        (first, 1, "failed", ["x=1", "fail=True"]),
        (first, 2, "completed", ["x=2", "fail=False"]),
        (first, 3, "failed", ["x=2", "fail=True"]),
    ]
    assert rows[0]["return_value"]["x"] == 1 and rows[0]["error"] is None
    assert rows[1]["return_value"] is None
    sandbox.release(blocker)


def test_python_api_returns_hydra_job_returns(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1,2", "fail=false,true")
    sandbox.wait_terminal()
    probe = textwrap.dedent("""
        import json, tsq
        from hydra.core.utils import JobStatus
        out = []
        for r in tsq.collect():
            item = {"overrides": r.overrides, "status": r.status.name, "task": r.task_name,
                    "num": r.hydra_cfg.hydra.job.num, "x": r.cfg.x, "wd": r.working_dir}
            try:
                item["value"] = r.return_value
            except ValueError as e:
                item["error"] = str(e)
                item["notes"] = getattr(e, "__notes__", [])
            out.append(item)
        print(json.dumps(out))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        env=sandbox.env,
        cwd=sandbox.root,
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(proc.stdout)
    assert [(g["num"], g["status"], g["overrides"], g["x"]) for g in got] == [
        (0, "COMPLETED", ["x=1", "fail=False"], 1),
        (1, "FAILED", ["x=1", "fail=True"], 1),
        (2, "COMPLETED", ["x=2", "fail=False"], 2),
        (3, "FAILED", ["x=2", "fail=True"], 2),
    ]
    assert got[0]["value"]["x"] == 1 and got[0]["task"] == "app"
    assert got[0]["wd"] == str(sandbox.app_dir)
    assert got[1]["error"] == "asked to fail with x=1"
    assert 'app.py", line' in got[1]["notes"][0], "the job's traceback, naming the app file"


def test_collect_csv_has_a_column_per_override_and_returned_key(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1,2", "message=a,b")
    sandbox.wait_terminal()
    rows = list(csv.DictReader(io.StringIO(sandbox.tsq("collect", "--format", "csv").stdout)))
    keys = ("num", "x", "message", "return.x", "return.double_x")
    assert [tuple(r[k] for k in keys) for r in rows] == [
        ("0", "1", "a", "1", "2"), ("1", "1", "b", "1", "2"),
        ("2", "2", "a", "2", "4"), ("3", "2", "b", "2", "4"),
    ]  # fmt: skip
    assert {r["state"] for r in rows} == {"completed"} and {r["error"] for r in rows} == {""}
    frame = subprocess.run(
        [sys.executable, "-c", "import tsq; f = tsq.collect_frame(); "
         "print(f['return.double_x'].sum(), list(f['x']))"],
        env=sandbox.env, cwd=sandbox.root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert frame.stdout.split("\n")[0] == "12 ['1', '1', '2', '2']"
