"""Results keep their shape and their truth, whatever the task returns or raises and wherever
`collect` runs: NaN and numpy metrics, values of tens of MB, the app's own classes, exceptions
that do not unpickle, `sys.exit`. Apps: `tests/apps/shapes.py` (with `shapes_models.py` beside
it) and the package `tests/apps/shapes_pkg`, run with `python -m`."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from sweeps import Sandbox, by_num

from tsq.files.results import SUMMARY_LIMIT, exit_status, summary_value
from tsq.render.tables import collect_rows, render_csv, render_json, strict_json

HUGE = 30_000_000  # as in tests/apps/shapes.py

# What a user runs in Python: every collected job, its status, whether Hydra's config came
# back, and its value or what reading it raised; and whether sys.path is as it was.
PROBE = """
import json, sys, tsq
before = list(sys.path)
jobs = []
for r in tsq.collect():
    job = {"status": r.status.name, "overrides": r.overrides, "cfg": r.cfg is not None}
    try:
        value = r.return_value
    except BaseException as e:  # a job's SystemExit must not end the reader's process
        job["raised"] = {"type": type(e).__name__, "text": str(e),
                         "notes": "".join(getattr(e, "__notes__", []))}
    else:
        job["type"] = f"{type(value).__module__}.{type(value).__qualname__}"
        job["repr"] = repr(value)[:200]
        job["size"] = len(repr(value))
    jobs.append(job)
print(json.dumps({"jobs": jobs, "sys_path_restored": sys.path == before}))
"""


def _python_collect(sandbox: Sandbox, cwd: Path) -> dict[str, Any]:
    """`tsq.collect()` in a fresh interpreter started in `cwd`, as a user's notebook would."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=sandbox.env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _strict_loads(text: str) -> Any:
    """json.loads refusing the NaN/Infinity literals strict JSON parsers reject."""

    def refuse(literal: str) -> Any:
        raise AssertionError(f"not strict JSON: {literal}")

    return json.loads(text, parse_constant=refuse)


def _collect_json(sandbox: Sandbox) -> list[dict[str, Any]]:
    text = sandbox.tsq("collect", "--json", check=False).stdout
    return _strict_loads(text)


# --- what a summary keeps of a return value ---------------------------------------------------


def test_summary_value_keeps_a_mapping_whole_around_nan_numpy_and_objects() -> None:
    value = {
        "loss": float("nan"),
        "acc": np.float32(0.75),
        "steps": np.int64(10),
        "best": np.array(0.25),
        "curve": np.array([1, 2]),
        "nested": {"peak": float("inf"), "labels": {"a"}},
        3: np.bool_(True),
    }
    kept, truncated = summary_value(value)
    assert not truncated
    assert math.isnan(kept["loss"]), "NaN stays a number"
    assert kept["acc"] == 0.75 and type(kept["acc"]) is float
    assert kept["steps"] == 10 and type(kept["steps"]) is int
    assert kept["best"] == 0.25 and type(kept["best"]) is float
    assert kept["curve"] == [1, 2]
    assert kept["nested"] == {"peak": float("inf"), "labels": "{'a'}"}, "repr at that key only"
    assert kept["3"] is True
    assert json.loads(json.dumps(kept))["steps"] == 10


@dataclass
class _Scores:
    loss: Any
    acc: float


class _Pair(NamedTuple):
    loss: float
    curve: Any


@dataclass
class _Report:
    loss: float
    best: _Scores
    steps: Any
    late: int = field(init=False)  # never set: no value to report


def test_summary_value_makes_records_mappings_of_their_fields() -> None:
    report = _Report(float("nan"), _Scores(np.float32(0.5), 0.9), np.int64(3))
    kept, truncated = summary_value(report)
    assert not truncated
    assert list(kept) == ["loss", "best", "steps"], "fields in order; an unset one left out"
    assert math.isnan(kept["loss"]) and kept["steps"] == 3 and type(kept["steps"]) is int
    assert kept["best"] == {"loss": 0.5, "acc": 0.9}, "a record inside a record"
    assert summary_value(_Pair(0.25, [np.float64(1.0), math.inf])) == (
        {"loss": 0.25, "curve": [1.0, math.inf]},
        False,
    )
    assert summary_value({"run": _Pair(1.0, None)})[0] == {"run": {"loss": 1.0, "curve": None}}
    assert summary_value((1.0, 2.0))[0] == [1.0, 2.0], "a plain tuple stays a list"
    assert summary_value(_Scores)[0] == repr(_Scores), "a record class is not a record"
    loop = _Scores(0.5, 0.9)
    loop.loss = loop
    assert summary_value(loop)[0] == {"loss": repr(loop), "acc": 0.9}, "a cycle is cut"


def test_summary_value_reads_attrs_classes_as_records() -> None:
    attrs = pytest.importorskip("attrs")

    @attrs.define
    class Scores:
        loss: float
        curve: Any = attrs.field(factory=list)

    @attrs.frozen
    class Frozen:
        acc: float

    value = Scores(float("inf"), [np.int64(2)])
    assert summary_value(value)[0] == {"loss": math.inf, "curve": [2]}
    assert summary_value([Frozen(0.5)])[0] == [{"acc": 0.5}]


def test_summary_value_reads_pydantic_models_as_records() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Inner(pydantic.BaseModel):
        acc: float

    class Scores(pydantic.BaseModel):
        loss: float
        inner: Inner

    kept, _ = summary_value(Scores(loss=float("nan"), inner=Inner(acc=0.5)))
    assert math.isnan(kept["loss"]) and kept["inner"] == {"acc": 0.5}


def test_summary_value_falls_back_to_repr_per_part_and_survives_cycles() -> None:
    class Model:
        def __repr__(self) -> str:
            return "<Model>"

    loop: list[Any] = [1]
    loop.append(loop)
    kept, _ = summary_value({"model": Model(), "ok": 1, "loop": loop, (1, 2): "tuple key"})
    assert kept == {"model": "<Model>", "ok": 1, "loop": [1, "[1, [...]]"], "(1, 2)": "tuple key"}


def test_summary_value_cuts_the_largest_keys_of_a_huge_mapping() -> None:
    value = {"loss": 0.1, "preds": list(range(100_000)), "small": "s", "also": "z" * 50_000}
    kept, truncated = summary_value(value)
    assert truncated
    assert kept["loss"] == 0.1 and kept["small"] == "s" and kept["also"] == "z" * 50_000
    assert kept["preds"].startswith("<truncated: ") and "tsq.collect()" in kept["preds"]
    assert len(json.dumps(kept)) <= SUMMARY_LIMIT


def test_summary_value_replaces_a_huge_non_mapping_whole() -> None:
    kept, truncated = summary_value("y" * (SUMMARY_LIMIT + 1))
    assert truncated and kept.startswith("<truncated: ") and len(kept) < 200
    assert summary_value("y" * 1000) == ("y" * 1000, False)


@pytest.mark.parametrize(
    "code, status", [(None, 0), (0, 0), (3, 3), (255, 255), (256, 1), (-1, 255), ("bye", 1)]
)
def test_exit_status_is_what_sys_exit_asks_for(code: Any, status: int) -> None:
    assert exit_status(SystemExit(code)) == status


# --- how collect writes NaN and infinities ----------------------------------------------------


def test_strict_json_writes_non_finite_floats_as_strings() -> None:
    text = strict_json({"a": float("nan"), "b": [float("inf"), -math.inf], "c": 1.5})
    assert _strict_loads(text) == {"a": "NaN", "b": ["Infinity", "-Infinity"], "c": 1.5}
    assert float("Infinity") == math.inf, "float() reads them back"


def test_collect_rows_keep_return_columns_and_nan_numbers() -> None:
    items = [
        {"num": 0, "state": "completed", "overrides": ["x=0"], "return_value": {"loss": 0.5}},
        {
            "num": 1,
            "state": "completed",
            "overrides": ["x=1"],
            "return_value": {"loss": float("nan"), "curve": [float("-inf")]},
        },
    ]
    columns, rows = collect_rows(items)
    assert columns[3:6] == ["x", "return.loss", "return.curve"]
    assert math.isnan(rows[1]["return.loss"])
    assert rows[1]["return.curve"] == '["-Infinity"]', "a nested cell is strict JSON text"
    assert render_csv(columns, rows).splitlines()[2].split(",")[3:5] == ["1", "nan"]
    assert _strict_loads(render_json(items))[1]["return_value"]["loss"] == "NaN"


# --- real sweeps ------------------------------------------------------------------------------


def test_nan_and_numpy_metrics_keep_their_columns_in_every_format(sandbox: Sandbox) -> None:
    sandbox.sweep("+kind=plain,nan_metrics", script="shapes.py")
    assert {job["state"] for job in sandbox.wait_terminal()} == {"completed"}

    rows = list(csv.DictReader(io.StringIO(sandbox.tsq("collect", "--format", "csv").stdout)))
    keys = ("return.loss", "return.acc", "return.steps", "return.best", "return.peak")
    assert [tuple(row[k] for k in keys) for row in rows] == [
        ("0.5", "0.9", "10", "0.5", "1.0"),
        ("nan", "0.75", "10", "0.25", "inf"),
    ]
    assert rows[1]["return.trace"] == '[1.0, "-Infinity"]'
    assert rows[1]["return.labels"] in ("{'a', 'b'}", "{'b', 'a'}"), "a set: its repr, one key"

    table = sandbox.tsq("collect").stdout.splitlines()
    assert table[1].split()[:5] == ["num", "state", "kind", "return.loss", "return.acc"]
    assert table[3].split()[:4] == ["1", "completed", "nan_metrics", "nan"]

    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed")
    text = sandbox.tsq("collect", "--json").stdout
    loss = subprocess.run(
        [jq, "-c", "[.[].return_value.loss]"], input=text, capture_output=True, text=True
    )
    assert loss.returncode == 0, loss.stderr
    assert json.loads(loss.stdout) == [0.5, "NaN"]
    value = _strict_loads(text)[1]["return_value"]
    assert (value["peak"], value["trace"], value["steps"]) == ("Infinity", [1.0, "-Infinity"], 10)

    frame = subprocess.run(
        [sys.executable, "-c", "import tsq; f = tsq.collect_frame(); "
         "print(f['return.loss'].dtype, f['return.loss'].isna().tolist(), f['return.peak'][1])"],
        env=sandbox.env, cwd=sandbox.root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert frame.stdout.split() == ["float64", "[False,", "True]", "inf"]


def _installed(module: str) -> bool:
    probe = [sys.executable, "-c", f"import {module}"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def test_records_of_metrics_keep_their_columns_in_every_format(sandbox: Sandbox) -> None:
    """A task returning its metrics as a dataclass, NamedTuple, attrs class or pydantic model
    has them as columns, as a dict's; one job returning a string beside them costs the others
    no column. attrs and pydantic kinds run when the venv has them (the test extra does)."""
    kinds = ["dataclass", "namedtuple", "report", "text"]
    kinds += [k for k in ("attrs", "pydantic") if _installed(k)]
    sandbox.sweep(f"+kind={','.join(kinds)}", script="shapes.py")
    assert {job["state"] for job in sandbox.wait_terminal()} == {"completed"}
    losses = {"dataclass": 0.5, "namedtuple": 0.25, "attrs": 0.75, "pydantic": 1.0}

    values = {row["overrides"][0][6:]: row["return_value"] for row in _collect_json(sandbox)}
    assert values["dataclass"] == {"loss": 0.5, "acc": 0.9}
    assert values["namedtuple"] == {"loss": 0.25, "acc": 0.8}
    assert values["report"] == {
        "loss": "NaN",
        "steps": 3,
        "best": {"loss": 0.5, "acc": 0.9},
        "curve": [1.0, "Infinity"],
    }
    assert values["text"] == "converged"
    for kind in kinds[4:]:
        assert values[kind]["loss"] == losses[kind], kind

    rows = list(csv.DictReader(io.StringIO(sandbox.tsq("collect", "--format", "csv").stdout)))
    cells = {row["kind"]: (row["return.loss"], row["return_value"]) for row in rows}
    assert cells["dataclass"] == ("0.5", "") and cells["namedtuple"] == ("0.25", "")
    assert cells["report"] == ("nan", "") and cells["text"] == ("", "converged")
    assert rows[2]["return.best"] == '{"loss": 0.5, "acc": 0.9}'
    for kind in kinds[4:]:
        assert cells[kind] == (str(losses[kind]), ""), kind

    frame = subprocess.run(
        [sys.executable, "-c", "import tsq; f = tsq.collect_frame(); "
         "print(f['return.loss'].dtype, f['return.acc'].tolist()[:2])"],
        env=sandbox.env, cwd=sandbox.root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert frame.stdout.split() == ["float64", "[0.9,", "0.8]"]

    groups = json.loads(sandbox.tsq("collect", "--by", "kind", "--json").stdout)["groups"]
    loss = {group["by"]["kind"]: group["metrics"]["loss"] for group in groups}
    assert (loss["dataclass"]["n"], loss["dataclass"]["mean"]) == (1, 0.5)
    assert (loss["namedtuple"]["n"], loss["namedtuple"]["mean"]) == (1, 0.25)
    assert (loss["report"]["n"], loss["report"]["nan"]) == (0, 1), "NaN counted, not averaged"
    assert (loss["text"]["n"], loss["text"]["mean"]) == (0, None)
    for kind in kinds[4:]:
        assert loss[kind]["mean"] == losses[kind], kind


def test_huge_return_values_stay_out_of_summaries(sandbox: Sandbox) -> None:
    sandbox.sweep("+kind=huge,huge_string", script="shapes.py")
    assert {job["state"] for job in sandbox.wait_terminal()} == {"completed"}

    text = sandbox.tsq("collect", "--json").stdout
    assert len(text) < 3 * SUMMARY_LIMIT, "collect --json does not print tens of MB"
    rows = _strict_loads(text)
    assert [row["return_value_truncated"] for row in rows] == [True, True]
    assert rows[0]["return_value"]["loss"] == 0.1, "the small keys stay"
    assert rows[0]["return_value"]["blob"].startswith("<truncated: ")
    assert rows[1]["return_value"].startswith("<truncated: ")
    jobs_dir = next((sandbox.root / "multirun").glob("*/.tsq/*/jobs"))
    assert all(path.stat().st_size < 2 * SUMMARY_LIMIT for path in jobs_dir.glob("?.json"))

    rows = list(csv.DictReader(io.StringIO(sandbox.tsq("collect", "--format", "csv").stdout)))
    assert rows[0]["return.loss"] == "0.1" and rows[0]["return.blob"].startswith("<truncated: ")
    assert rows[0]["return_value"] == "", "the mapping's job keeps its columns"
    assert rows[1]["return_value"].startswith("<truncated: ")

    got = _python_collect(sandbox, sandbox.root)["jobs"]
    assert got[0]["size"] > HUGE and got[1]["size"] == HUGE + 2, "tsq.collect() has it whole"


def test_the_store_keeps_small_summaries_so_results_read_without_their_files(
    sandbox: Sandbox,
) -> None:
    """The refresh that records how a job ended keeps its summary in the store: `collect` (and
    the page) read a sweep's results in one query, also where the result files cannot be read
    (another host of a shared store). A summary over `STORED_LIMIT` stays in its file only."""
    sandbox.sweep("+kind=plain,nan_metrics,large", script="shapes.py")
    sandbox.wait_terminal()
    jobs_dir = next((sandbox.root / "multirun").glob("*/.tsq/*/jobs"))
    for path in jobs_dir.glob("?.json"):
        path.unlink()  # every result summary gone
    rows = json.loads(sandbox.tsq("collect", "--json", check=False).stdout)
    by_kind = {row["overrides"][0]: row for row in rows}
    plain, nan, large = (by_kind[f"+kind={k}"] for k in ("plain", "nan_metrics", "large"))
    assert plain["state"] == "completed" and plain["error"] is None
    assert plain["return_value"]["loss"] == 0.5 and plain["return_value"]["trace"] == [1.0]
    assert nan["return_value"]["loss"] == "NaN", "NaN kept through the store (strict JSON)"
    assert nan["return_value"]["steps"] == 10
    assert large["return_value"] is None
    assert "is missing" in large["error"], "a summary too large to keep is read from its file"


def test_exceptions_that_do_not_unpickle_are_reported_as_raised(sandbox: Sandbox) -> None:
    # Without a code snapshot, deleting the module makes the exception's class unimportable.
    sandbox.sweep(
        "+kind=two_arg_error,module_error", "hydra.launcher.snapshot=false", script="shapes.py"
    )
    jobs = by_num(sandbox.wait_terminal())
    assert [jobs[n]["state"] for n in (0, 1)] == ["failed", "failed"]
    (sandbox.app_dir / "shapes_models.py").unlink()  # the reader cannot import ModelError

    rows = _collect_json(sandbox)
    assert [row["error"] for row in rows] == ["TwoArgError: bad input", "ModelError: diverged"]

    got = _python_collect(sandbox, sandbox.root)["jobs"]
    assert [job["status"] for job in got] == ["FAILED", "FAILED"]
    assert [job["raised"]["type"] for job in got] == ["RemoteError", "RemoteError"]
    assert [job["raised"]["text"] for job in got] == [
        "TwoArgError: bad input",
        "ModelError: diverged",
    ]
    for job in got:
        assert "shapes.py" in job["raised"]["notes"], "the job's traceback"
        assert "corrupt" not in json.dumps(job)
    assert got[0]["cfg"], "stored as a RemoteError by the job: the whole JobReturn loads"
    assert "shapes_models" in got[1]["raised"]["notes"], "says why the original did not load"


def test_results_of_the_apps_own_classes_load_from_any_directory(sandbox: Sandbox) -> None:
    # Without a code snapshot, so that deleting the module below makes it unimportable.
    sandbox.sweep("+kind=dataclass", "hydra.launcher.snapshot=false", script="shapes.py")
    assert sandbox.wait_terminal()[0]["state"] == "completed"
    elsewhere = sandbox.root / "notebooks"
    elsewhere.mkdir()

    got = _python_collect(sandbox, elsewhere)
    assert got["jobs"][0]["status"] == "COMPLETED"
    assert got["jobs"][0]["type"] == "shapes_models.Scores"
    assert got["jobs"][0]["repr"] == "Scores(loss=0.5, acc=0.9)"
    assert got["sys_path_restored"]

    (sandbox.app_dir / "shapes_models.py").unlink()
    got = _python_collect(sandbox, elsewhere)["jobs"][0]
    assert got["status"] == "COMPLETED", "where collect runs does not fail a completed job"
    assert got["raised"]["type"] == "ResultUnavailable"
    assert "No module named 'shapes_models'" in got["raised"]["text"]
    row = _collect_json(sandbox)[0]
    assert (row["state"], row["return_value"]) == ("completed", {"loss": 0.5, "acc": 0.9})
    assert sandbox.status()[0]["state"] == "completed"


def test_a_package_app_run_with_python_m_collects_from_any_directory(sandbox: Sandbox) -> None:
    sandbox.run(
        [
            sys.executable,
            "-m",
            "shapes_pkg.app",
            "-m",
            "hydra/launcher=ts",
            f"hydra.sweep.dir={sandbox.root}/multirun/pkg",
            "+seed=1,2",
        ]
    )
    assert {job["state"] for job in sandbox.wait_terminal()} == {"completed"}
    got = _python_collect(sandbox, sandbox.root)
    assert [(job["status"], job["type"]) for job in got["jobs"]] == [
        ("COMPLETED", "shapes_pkg.metrics.Metrics")
    ] * 2
    assert got["jobs"][1]["repr"] == "Metrics(seed=2, loss=0.5)"
    assert got["sys_path_restored"]


def test_sys_exit_ends_the_job_with_the_code_it_asks_for(sandbox: Sandbox) -> None:
    sandbox.sweep("+kind=exit0,exit_none,exit3,exit_message", script="shapes.py")
    jobs = by_num(sandbox.wait_terminal())
    assert [(jobs[n]["state"], jobs[n]["exit_code"]) for n in range(4)] == [
        ("completed", 0),
        ("completed", 0),
        ("failed", 3),
        ("failed", 1),
    ]
    rows = _collect_json(sandbox)
    assert [(row["error"], row["exit_code"]) for row in rows] == [
        (None, 0),
        (None, 0),
        ("SystemExit: 3", 3),
        ("SystemExit: stopped early", 1),
    ]
    elevels = {}
    for line in sandbox.tsp("-l").stdout.splitlines()[1:]:
        fields = line.split()
        elevels[int(fields[0])] = int(fields[3])
    assert [elevels[jobs[n]["queue_id"]] for n in range(4)] == [0, 0, 3, 1], "ts agrees"
    got = _python_collect(sandbox, sandbox.root)["jobs"]
    assert [job["status"] for job in got] == ["COMPLETED", "COMPLETED", "FAILED", "FAILED"]
    assert got[0]["repr"] == "None"
    assert (got[2]["raised"]["type"], got[2]["raised"]["text"]) == ("RemoteError", "SystemExit: 3")


def test_results_load_from_the_code_snapshot_after_the_app_changed(sandbox: Sandbox) -> None:
    """With a snapshot (the default), the app's own classes load from the code the job ran,
    even once the module was deleted from the project."""
    sandbox.sweep("+kind=dataclass", script="shapes.py")
    assert sandbox.wait_terminal()[0]["state"] == "completed"
    (sandbox.app_dir / "shapes_models.py").unlink()
    elsewhere = sandbox.root / "notebooks"
    elsewhere.mkdir()
    got = _python_collect(sandbox, elsewhere)["jobs"][0]
    assert (got["status"], got["repr"]) == ("COMPLETED", "Scores(loss=0.5, acc=0.9)")
