"""Results come back later, from any shell or from Python."""

from __future__ import annotations

import csv
import io
import json
import math
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


def test_collect_by_aggregates_over_seeds_counting_failures_and_nan(sandbox: Sandbox) -> None:
    # loss = 10 * lr + seed, NaN for seed 1, and seed 3 fails: lr 0.1 -> 1, NaN, 3; lr 0.3 ->
    # 3, NaN, 5.
    sandbox.sweep("lr=0.1,0.3", "seed=0,1,2,3", "nan_seed=1", "fail_seed=3",
                  script="metrics.py")  # fmt: skip
    sandbox.wait_terminal()
    doc = json.loads(
        sandbox.tsq("collect", "--by", "lr", "--sort", "loss", "--json", check=False).stdout
    )
    assert doc["by"] == ["lr"] and doc["metrics"] == ["loss", "acc"]
    low, high = doc["groups"]
    assert low["by"] == {"lr": "0.1"} and low["jobs"] == 4 and low["failed_nums"] == [3]
    assert low["metrics"]["loss"] == {
        "n": 2, "nan": 1, "none": 0, "mean": 2.0, "std": math.sqrt(2), "min": 1.0, "max": 3.0
    }  # fmt: skip
    assert low["best"] == {"num": 0, "metric": "loss", "value": 1.0}
    assert high["by"] == {"lr": "0.3"} and high["metrics"]["loss"]["mean"] == 4.0
    assert high["best"]["num"] == 4

    table = sandbox.tsq("collect", "--by", "lr", "--sort", "acc:max", "--top", "1", check=False)
    assert table.returncode == 1, "failed jobs are in the sweep"
    lines = table.stdout.splitlines()
    assert lines[1].split()[:10] == [
        "lr", "jobs", "failed", "loss.n", "loss.nan", "loss.none", "loss.mean", "loss.std",
        "loss.min", "loss.max",
    ]  # fmt: skip
    assert lines[2].split()[:7] == ["0.1", "4", "1", "2", "1", "0", "2"]
    assert len(lines) == 4 and lines[3] == "not averaged: 1 job did not complete (3)"

    rows = list(csv.DictReader(io.StringIO(
        sandbox.tsq("collect", "--by", "lr,seed", "--format", "csv", check=False).stdout
    )))  # fmt: skip
    assert [(r["lr"], r["seed"], r["failed"], r["loss.mean"]) for r in rows][:4] == [
        ("0.1", "0", "0", "1.0"), ("0.1", "1", "0", ""), ("0.1", "2", "0", "3.0"),
        ("0.1", "3", "1", ""),
    ]  # fmt: skip
    frame = subprocess.run(
        [sys.executable, "-c", "import tsq; f = tsq.collect_frame(by='lr', sort='loss'); "
         "print(list(f['lr']), list(f['loss.mean']), list(f['failed']))"],
        env=sandbox.env, cwd=sandbox.root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert frame.stdout.strip() == "['0.1', '0.3'] [2.0, 4.0] [1, 1]"


def test_collect_by_keeps_none_big_integers_and_look_alike_keys(sandbox: Sandbox) -> None:
    """A real task returning None for one seed, 10**20 + seed, and keys 1 and "1": the metric
    with a None is aggregated (the None counted), the integers exactly, both keys kept."""
    sandbox.sweep("lr=0.1", "seed=0,1,2", script="exact.py")
    sandbox.wait_terminal()
    doc = json.loads(sandbox.tsq("collect", "--by", "lr", "--json").stdout)
    assert doc["metrics"] == ["loss", "big", "1 (int)", "1"]
    (group,) = doc["groups"]
    assert group["metrics"]["loss"] == {
        "n": 2, "nan": 0, "none": 1, "mean": 1.0, "std": math.sqrt(2), "min": 0.0, "max": 2.0
    }  # fmt: skip
    assert group["metrics"]["big"] == {
        "n": 3, "nan": 0, "none": 0, "mean": 10**20 + 1, "std": 1.0, "min": 10**20,
        "max": 10**20 + 2,
    }  # fmt: skip
    assert (group["metrics"]["1 (int)"]["mean"], group["metrics"]["1"]["mean"]) == (1, 10)

    table = sandbox.tsq("collect", "--by", "lr").stdout.splitlines()
    assert " 100000000000000000001 " in table[2], "the exact mean, every digit"
    (row,) = csv.DictReader(io.StringIO(
        sandbox.tsq("collect", "--by", "lr", "--sort", "1 (int):max", "--format", "csv").stdout
    ))  # fmt: skip
    assert (row["loss.n"], row["loss.none"], row["loss.mean"]) == ("2", "1", "1.0")
    assert (row["big.mean"], row["big.std"]) == ("100000000000000000001", "1.0")
    assert (row["1 (int).mean"], row["1.mean"], row["best"]) == ("1", "10", "2")


def test_collect_by_refuses_bad_input_in_one_line(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    sandbox.sweep("lr=0.1", "seed=0,1", script="metrics.py")
    nothing = sandbox.tsq("collect", "--by", "lr", check=False)
    assert nothing.returncode == 2 and nothing.stdout == ""
    assert nothing.stderr.startswith("tsq: sweep ") and nothing.stderr.endswith(
        "has no finished job yet (2 queued): nothing to aggregate\n"
    )
    sandbox.release(blocker)
    sandbox.wait_terminal()
    for args, message in [
        (["--by", "optim"], "tsq: unknown key 'optim' for --by; the sweep's override keys: "
         "lr, seed\n"),
        (["--by", "lr", "--sort", "bogus"], "tsq: unknown metric 'bogus'; the jobs returned: "
         "loss, acc, note\n"),
        (["--by", "lr", "--sort", "note"], "tsq: metric 'note' is not numeric (a job returned "
         "'small-0', str); numeric metrics: loss, acc\n"),
        (["--sort", "loss"], "tsq: --sort and --top rank groups: give --by KEY[,KEY...] too\n"),
        (["--by", "lr", "--top", "2"], "tsq: --top N keeps the best groups: give --sort METRIC "
         "too\n"),
    ]:  # fmt: skip
        proc = sandbox.tsq("collect", *args, check=False)
        assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", message), args


def test_a_result_pickle_that_is_not_a_job_return(sandbox: Sandbox) -> None:
    """A job's result pickle replaced by another object (here a dict, private to its owner
    like the runner's own): `tsq.collect()` still returns every job, the replaced one as its
    summary ended it (completed), and asking for its value raises one line naming the file and
    what it holds; the other job is untouched. It used to raise AttributeError from inside
    collect."""
    sandbox.sweep("x=1,2")
    sandbox.wait_terminal()
    [pickle] = (sandbox.root / "multirun").glob("**/.tsq/*/jobs/0.pkl")
    replace = "import pickle, sys; open(sys.argv[1], 'wb').write(pickle.dumps({'x': 1}))"
    subprocess.run([sys.executable, "-c", replace, str(pickle)], check=True)
    probe = textwrap.dedent("""
        import json, tsq
        out = []
        for r in tsq.collect():
            try:
                out.append([r.status.name, r.return_value["x"]])
            except Exception as e:
                out.append([r.status.name, type(e).__name__, str(e)])
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", probe], env=sandbox.env, cwd=sandbox.root,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    replaced, other = json.loads(proc.stdout)
    assert other == ["COMPLETED", 2]
    assert replaced[:2] == ["COMPLETED", "ResultUnavailable"]
    assert f"result file {pickle} holds a builtins.dict, not a Hydra JobReturn" in replaced[2]
    assert "\n" not in replaced[2]
