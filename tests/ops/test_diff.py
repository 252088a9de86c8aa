"""`tsq diff A B`: the code, config and results that changed between two real sweeps of the
`metrics.py` app (edited between them), and the comparisons themselves on plain values."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from sweeps import Sandbox

from tsq.ops.diff import ADDED, MODIFIED, REMOVED, compare_trees, config_changes, distinct_values


def sweep_ids(sandbox: Sandbox) -> list[str]:
    with sqlite3.connect(sandbox.store) as db:
        return [row[0] for row in db.execute("SELECT id FROM sweeps ORDER BY created_at")]


# --- the comparisons --------------------------------------------------------------------------


def test_compare_trees_lists_what_differs_and_diffs_text(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "pkg").mkdir(parents=True)
        (root / "same.py").write_text("x = 1\n")
    (a / "pkg" / "train.py").write_text("lr = 0.1\nsteps = 3\n")
    (b / "pkg" / "train.py").write_text("lr = 0.2\nsteps = 3")
    (a / "old.py").write_text("gone\n")
    (b / "new.py").write_text("born\n")
    (a / "blob.bin").write_bytes(b"\0\1")
    (b / "blob.bin").write_bytes(b"\0\2")
    os.link(a / "same.py", a / "linked.py")
    os.link(a / "same.py", b / "linked.py")  # one content-addressed copy: the same file
    (a / "data").symlink_to("/srv/data/v1")
    (b / "data").symlink_to("/srv/data/v2")
    changes = {c.path: c for c in compare_trees(a, b)}
    assert sorted(changes) == ["blob.bin", "data", "new.py", "old.py", "pkg/train.py"]
    train = changes["pkg/train.py"]
    assert train.change == MODIFIED and train.diff is not None
    assert "--- a/pkg/train.py\n+++ b/pkg/train.py\n" in train.diff
    assert "\n-lr = 0.1\n" in train.diff and "\n+lr = 0.2\n" in train.diff
    assert "+steps = 3\n\\ No newline at end of file\n" in train.diff
    assert (changes["new.py"].change, changes["old.py"].change) == (ADDED, REMOVED)
    assert "+born\n" in (changes["new.py"].diff or "")
    assert (changes["blob.bin"].diff, changes["blob.bin"].note) == (None, "binary files differ")
    assert changes["data"].note == "/srv/data/v1 -> /srv/data/v2", "a live link: where it points"


def test_config_changes_compare_the_values_each_sweep_ran_with() -> None:
    a = distinct_values(
        [
            {"lr": 0.1, "seed": 0, "model.depth": 4, "tags": ["x"]},
            {"lr": 0.01, "seed": 1, "model.depth": 4, "tags": ["x"]},
        ]
    )
    b = distinct_values(
        [
            {"lr": 0.01, "seed": 0, "model.depth": 8, "tags": ["x"], "extra": None},
            {"lr": 0.1, "seed": 1, "model.depth": 8, "tags": ["x"], "extra": None},
        ]
    )
    changes = {c.key: c for c in config_changes(a, b)}
    assert sorted(changes) == ["extra", "model.depth"], "same values in another order: same"
    assert (changes["model.depth"].a, changes["model.depth"].b) == ([4], [8])
    assert (changes["extra"].a, changes["extra"].b) == ([], [None]), "set in B only"
    assert not changes["model.depth"].swept
    swept = config_changes(a, distinct_values([{"lr": 0.1, "seed": 0}, {"lr": 0.001, "seed": 0}]))
    assert [(c.key, c.b, c.swept) for c in swept][:2] == [
        ("lr", [0.1, 0.001], True),
        ("seed", [0], True),
    ]


# --- real sweeps ------------------------------------------------------------------------------


def test_diff_of_two_sweeps_shows_code_config_and_results(sandbox: Sandbox) -> None:
    sandbox.sweep("lr=0.1,0.2", "seed=0,1", script="metrics.py")
    sandbox.wait_terminal()
    app = sandbox.app_dir / "metrics.py"
    app.write_text(app.read_text().replace("+ cfg.seed +", "+ cfg.seed + 0.5 +"))
    (sandbox.app_dir / "helper.py").write_text("SCALE = 2\n")
    sandbox.sweep(
        "lr=0.1,0.3", "seed=0,1", "model=large", "hydra.launcher.max_queued=100",
        script="metrics.py",
    )  # fmt: skip
    sandbox.wait_terminal()
    a, b = sweep_ids(sandbox)

    diff = json.loads(sandbox.tsq("diff", a, b, "--by", "lr", "--json").stdout)
    assert (diff["a"]["sweep"], diff["b"]["sweep"]) == (a, b)

    code = diff["code"]
    assert code["compared"] and code["why_not"] is None
    files = {f["path"]: f for f in code["files"]}
    assert sorted(files) == ["helper.py", "metrics.py"], "only what was edited"
    assert files["helper.py"]["change"] == "added"
    assert "-    loss = 10 * cfg.lr + cfg.seed + (1" in files["metrics.py"]["diff"]
    assert "+    loss = 10 * cfg.lr + cfg.seed + 0.5 + (1" in files["metrics.py"]["diff"]

    changes = {c["key"]: c for c in diff["config"]["changes"]}
    assert sorted(changes) == ["hydra.launcher.max_queued", "lr", "model"], "seed: the same"
    assert (changes["lr"]["a"], changes["lr"]["b"], changes["lr"]["swept"]) == (
        [0.1, 0.2],
        [0.1, 0.3],
        True,
    )
    assert (changes["model"]["a"], changes["model"]["b"], changes["model"]["swept"]) == (
        ["small"],
        ["large"],
        False,
    )
    assert (
        changes["hydra.launcher.max_queued"]["a"],
        changes["hydra.launcher.max_queued"]["b"],
    ) == ([500], [100])
    assert diff["config"]["not_written"] == {"a": 0, "b": 0}

    results = diff["results"]
    assert results["error"] is None
    rows = {(r["by"]["lr"], r["metric"]): r for r in results["rows"]}
    assert sorted(rows) == [(lr, m) for lr in ("0.1", "0.2", "0.3") for m in ("acc", "loss")]
    loss = rows[("0.1", "loss")]
    # A: 1 + seed; B: 1 + seed + 0.5 + 1 (large): means 1.5 and 3.0 over seeds 0 and 1
    assert (loss["a"]["n"], loss["a"]["mean"], loss["b"]["mean"], loss["diff"]) == (
        2,
        1.5,
        3.0,
        1.5,
    )
    assert rows[("0.2", "loss")]["b"] == {"n": None, "mean": None, "std": None}
    assert rows[("0.2", "loss")]["diff"] is None and rows[("0.3", "loss")]["a"]["mean"] is None

    text = sandbox.tsq("diff", a, b, "--by", "lr").stdout
    assert f"A: sweep {a}" in text and f"B: sweep {b}" in text
    assert "2 entries differ" in text and "  added     helper.py" in text
    assert "+++ b/metrics.py" in text
    assert "config: 3 keys differ" in text
    lr_line = next(line for line in text.splitlines() if line.strip().startswith("lr "))
    assert lr_line.split() == ["lr", "0.1,", "0.2", "0.1,", "0.3", "swept"]
    assert "results by lr: B - A is the difference of the means" in text
    row = next(line.split() for line in text.splitlines() if line.split()[:2] == ["0.1", "loss"])
    assert row == ["0.1", "loss", "2", "1.5", "0.7071", "2", "3", "0.7071", "1.5"]


def test_diff_says_why_code_or_results_are_not_compared(sandbox: Sandbox) -> None:
    sandbox.sweep("lr=0.1", script="metrics.py")
    sandbox.wait_terminal()
    sandbox.sweep("lr=0.1", "hydra.launcher.snapshot=false", script="metrics.py")
    sandbox.wait_terminal()
    a, b = sweep_ids(sandbox)
    diff = json.loads(sandbox.tsq("diff", a, b, "--by", "model", "--json").stdout)
    assert not diff["code"]["compared"]
    assert (
        diff["code"]["why_not"] == f"sweep {b} has no code snapshot (snapshot=false, or no project)"
    )
    assert diff["config"]["changes"] == [
        {"key": "hydra.launcher.snapshot", "a": [True], "b": [False], "swept": False}
    ], "the app's config is the same; the launcher's option is not"
    assert diff["results"]["error"].startswith(f"sweep {a}: unknown key 'model' for --by")
    text = sandbox.tsq("diff", a, b).stdout
    assert f"not compared: sweep {b} has no code snapshot" in text
    assert "config: 1 key differs" in text
    assert "results (all jobs of each sweep)" in text
