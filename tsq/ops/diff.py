"""`tsq diff A B`: what changed between two sweeps: their code, their config, their results.

- code: the two code snapshots compared file by file (`tsq.launch.snapshot`: each a tree of
  hard links to content-addressed copies, so an unchanged file is the same inode in both and costs
  nothing), with a unified diff of each changed text file. An entry linked live (data, ignored
  dirs) is compared by where it points: its content was never frozen. A sweep without a
  snapshot (`snapshot=false`, no project, or one `forget`/`gc` removed) has no code to
  compare: the section says so, and gives the git commits.
- config: each job's composed config as Hydra wrote it in its output dir
  (`.hydra/config.yaml`, unresolved), and the launcher's node of its `.hydra/hydra.yaml`,
  flattened to dotted keys; per key, the distinct values the sweep's jobs ran with. A key is
  listed when those values differ between the sweeps, swept or not (`lr: 0.1, 0.01` against
  `lr: 0.1, 0.001`; `model.depth: 4` against `8`). Jobs that have not written theirs yet (not
  started) are counted, not guessed.
- results: `collect --by` aggregates of both (`tsq.render.aggregate`), groups matched by their
  `--by` values, per numeric metric each side's n, mean and std and the difference of the means
  (B - A). Without `--by`, each sweep is one group.

The comparisons are pure functions of what was read (`compare_trees`, `config_changes`,
`result_rows`); `sweep_diff` reads the files and the store's rows.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsq.errors import TsqError

if TYPE_CHECKING:
    from tsq.store import Job, Sweep

ADDED, REMOVED, MODIFIED = "added", "removed", "modified"
LAUNCHER = "hydra.launcher"
SIDE_STATS = ("n", "mean", "std")


# --- code -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileChange:
    path: str  # relative to the snapshot's root
    change: str  # ADDED, REMOVED or MODIFIED
    diff: str | None  # unified diff of a text file; None for binary files and links
    note: str | None = None  # what differs when there is no diff to show


def _entries(root: Path) -> dict[str, Path]:
    """Every file and symbolic link below `root` by relative path; links are not followed
    (a live-linked directory is one entry)."""
    found: dict[str, Path] = {}
    for top, dirs, files in os.walk(root):
        here = Path(top)
        for name in dirs:
            if (here / name).is_symlink():
                found[str((here / name).relative_to(root))] = here / name
        for name in files:
            found[str((here / name).relative_to(root))] = here / name
    return found


def _text(path: Path) -> list[str] | None:
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode().splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


def _changed(path: str, a: Path, b: Path) -> FileChange | None:
    """How one entry present in both trees differs; None when it does not."""
    if a.is_symlink() or b.is_symlink():
        where_a = os.readlink(a) if a.is_symlink() else "a copied file"
        where_b = os.readlink(b) if b.is_symlink() else "a copied file"
        if where_a == where_b:
            return None
        return FileChange(path, MODIFIED, None, f"{where_a} -> {where_b}")
    if os.path.samefile(a, b):  # one content-addressed copy
        return None
    if a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes():
        return None
    old, new = _text(a), _text(b)
    if old is None or new is None:
        return FileChange(path, MODIFIED, None, "binary files differ")
    lines = difflib.unified_diff(old, new, f"a/{path}", f"b/{path}")
    return FileChange(path, MODIFIED, "".join(_ended(line) for line in lines))


def _ended(line: str) -> str:
    """A diff line that ends without a newline (the file's last line) gets one, as `diff`
    marks it, so the next line does not run on."""
    return line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n"


def _whole(path: str, file: Path, change: str) -> FileChange:
    if file.is_symlink():
        return FileChange(path, change, None, f"link to {os.readlink(file)}")
    lines = _text(file)
    if lines is None:
        return FileChange(path, change, None, "binary file")
    old, new = ([], lines) if change == ADDED else (lines, [])
    names = ("/dev/null", f"b/{path}") if change == ADDED else (f"a/{path}", "/dev/null")
    text = difflib.unified_diff(old, new, *names)
    return FileChange(path, change, "".join(_ended(line) for line in text))


def compare_trees(a: Path, b: Path) -> list[FileChange]:
    """The entries that differ between two snapshot trees, by path."""
    old, new = _entries(a), _entries(b)
    changes: list[FileChange] = []
    for path in sorted(old.keys() | new.keys()):
        if path not in new:
            changes.append(_whole(path, old[path], REMOVED))
        elif path not in old:
            changes.append(_whole(path, new[path], ADDED))
        elif (change := _changed(path, old[path], new[path])) is not None:
            changes.append(change)
    return changes


@dataclass(frozen=True)
class CodeDiff:
    compared: bool  # False when a side has no snapshot to compare
    why_not: str | None
    files: list[FileChange] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "files": [asdict(f) for f in self.files]}


def code_diff(a: Sweep, b: Sweep) -> CodeDiff:
    """The two sweeps' snapshots compared, or why they cannot be."""
    for sweep in (a, b):
        if sweep.snapshot is None:
            why = f"sweep {sweep.id} has no code snapshot (snapshot=false, or no project)"
            return CodeDiff(False, why)
        if not Path(sweep.snapshot).is_dir():
            return CodeDiff(
                False, f"the code snapshot of sweep {sweep.id} is gone ({sweep.snapshot})"
            )
    old, new = Path(a.snapshot or ""), Path(b.snapshot or "")
    if old.resolve() == new.resolve():
        return CodeDiff(True, None)  # content-addressed: one snapshot, the same code
    return CodeDiff(True, None, compare_trees(old, new))


# --- config -----------------------------------------------------------------------------------


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as dotted key -> leaf value; a list is one value, as is an empty
    mapping (a key set to `{}`)."""
    if not isinstance(node, Mapping) or (not node and prefix):
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _identity(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def distinct_values(configs: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Dotted key -> the distinct values the flattened configs hold for it, first-seen order."""
    values: dict[str, dict[str, Any]] = {}
    for config in configs:
        for key, value in config.items():
            values.setdefault(key, {}).setdefault(_identity(value), value)
    return {key: list(seen.values()) for key, seen in values.items()}


@dataclass(frozen=True)
class ConfigChange:
    key: str
    a: list[Any]  # the distinct values A's jobs ran with ([]: no job of A has the key)
    b: list[Any]

    @property
    def swept(self) -> bool:
        return len(self.a) > 1 or len(self.b) > 1


def config_changes(a: Mapping[str, list[Any]], b: Mapping[str, list[Any]]) -> list[ConfigChange]:
    """The keys whose distinct values differ between two sweeps (`distinct_values`), A's key
    order first, then B's new keys."""
    changes = []
    for key in dict.fromkeys([*a, *b]):
        old, new = a.get(key, []), b.get(key, [])
        if {_identity(v) for v in old} != {_identity(v) for v in new}:
            changes.append(ConfigChange(key, list(old), list(new)))
    return changes


def _yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, yaml.YAMLError) as e:
        raise TsqError(f"cannot read {path}: {e}") from None


def job_configs(jobs: Sequence[Job]) -> tuple[list[dict[str, Any]], int]:
    """Each job's config as it ran (`.hydra/config.yaml` in its output dir) with its launcher
    node (`hydra.launcher` of `.hydra/hydra.yaml`), flattened; and how many jobs have none
    written yet."""
    configs: list[dict[str, Any]] = []
    for job in jobs:
        hydra_dir = Path(job.output_dir) / ".hydra" if job.output_dir else None
        config = _yaml(hydra_dir / "config.yaml") if hydra_dir else None
        if not isinstance(config, dict) or hydra_dir is None:
            continue
        flat = flatten(config)
        hydra = _yaml(hydra_dir / "hydra.yaml")
        if isinstance(hydra, dict):
            launcher = (hydra.get("hydra") or {}).get("launcher")
            if isinstance(launcher, dict):
                flat.update(flatten(launcher, LAUNCHER))
        configs.append(flat)
    return configs, len(jobs) - len(configs)


# --- results ----------------------------------------------------------------------------------


def _side(stats: Mapping[str, Any] | None) -> dict[str, Any]:
    return {s: (stats or {}).get(s) for s in SIDE_STATS}


def _difference(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, float) and isinstance(b, float) and math.isinf(a) and a == b:
        return math.nan  # inf - inf: no difference can be told
    return b - a


def result_rows(
    a: Mapping[str, Any], b: Mapping[str, Any], by: Sequence[str]
) -> list[dict[str, Any]]:
    """Side by side: one row per group (matched by its `--by` values) and numeric metric of
    either sweep, from each sweep's `Aggregate.as_json()`; a group or metric one sweep lacks has
    None on that side."""
    metrics = list(dict.fromkeys([*a["metrics"], *b["metrics"]]))

    def keyed(result: Mapping[str, Any]) -> dict[tuple[Any, ...], Mapping[str, Any]]:
        return {tuple(g["by"].get(k) for k in by): g for g in result["groups"]}

    groups_a, groups_b = keyed(a), keyed(b)
    rows = []
    for key in dict.fromkeys([*groups_a, *groups_b]):
        group_a, group_b = groups_a.get(key), groups_b.get(key)
        for metric in metrics:
            side_a = _side(group_a["metrics"].get(metric) if group_a else None)
            side_b = _side(group_b["metrics"].get(metric) if group_b else None)
            rows.append(
                {
                    "by": dict(zip(by, key, strict=True)),
                    "metric": metric,
                    "a": side_a,
                    "b": side_b,
                    "diff": _difference(side_a["mean"], side_b["mean"]),
                }
            )
    return rows


# --- both sweeps ------------------------------------------------------------------------------


def _sweep_json(sweep: Sweep) -> dict[str, Any]:
    """Which sweep a side is, and the code it ran."""
    names = ("task_name", "created_at", "sweep_dir", "snapshot", "git_commit", "git_dirty")
    return {"sweep": sweep.id, **{name: getattr(sweep, name) for name in names}}


def _aggregate(sweep: Sweep, jobs: Sequence[Job], by: Sequence[str]) -> dict[str, Any]:
    """The sweep's `collect --by` aggregate as JSON; TsqError naming the sweep when it has
    none (no finished job, a `--by` key it does not set, no numeric metric)."""
    from tsq.ops.collector import finished
    from tsq.render.aggregate import aggregate

    done, _ = finished(sweep, list(jobs))
    try:
        return aggregate([item.as_json() for item in done], by).as_json()
    except TsqError as e:
        raise TsqError(f"sweep {sweep.id}: {e}") from None


def sweep_diff(
    a: Sweep, jobs_a: Sequence[Job], b: Sweep, jobs_b: Sequence[Job], by: Sequence[str]
) -> dict[str, Any]:
    """Everything `tsq diff` shows, as JSON-ready values (see the module's docstring)."""
    configs_a, unwritten_a = job_configs(jobs_a)
    configs_b, unwritten_b = job_configs(jobs_b)
    changes = config_changes(distinct_values(configs_a), distinct_values(configs_b))
    results: dict[str, Any] = {"by": list(by), "rows": [], "error": None}
    try:
        results["rows"] = result_rows(_aggregate(a, jobs_a, by), _aggregate(b, jobs_b, by), by)
    except TsqError as e:
        results["error"] = str(e)
    return {
        "a": _sweep_json(a),
        "b": _sweep_json(b),
        "code": code_diff(a, b).as_json(),
        "config": {
            "changes": [{**asdict(c), "swept": c.swept} for c in changes],
            "not_written": {"a": unwritten_a, "b": unwritten_b},
        },
        "results": results,
    }


# --- as text ----------------------------------------------------------------------------------


def _git(side: Mapping[str, Any]) -> str:
    if side["git_commit"] is None:
        return "no git commit"
    return f"git {side['git_commit'][:12]}" + (
        " (uncommitted changes)" if side["git_dirty"] else ""
    )


def _values(values: Sequence[Any]) -> str:
    if not values:
        return "(not set)"
    return ", ".join(v if isinstance(v, str) else json.dumps(v, default=repr) for v in values)


def _differ(count: int, noun: str, nouns: str | None = None) -> str:
    from tsq.render.words import plural

    return f"{plural(count, noun, nouns)} {'differs' if count == 1 else 'differ'}"


def render_text(diff: Mapping[str, Any]) -> str:
    """What `tsq diff` prints: the two sweeps, then the code, config and results sections."""
    from tsq.render.aggregate import format_number
    from tsq.render.tables import render_table

    lines = []
    for name in ("a", "b"):
        s = diff[name]
        lines.append(f"{name.upper()}: sweep {s['sweep']}  {s['task_name']}  {s['sweep_dir']}")

    code = diff["code"]
    head = f"code: {_git(diff['a'])} -> {_git(diff['b'])}"
    if not code["compared"]:
        lines += ["", f"{head}; not compared: {code['why_not']}"]
    elif not code["files"]:
        lines += ["", f"{head}; the same files"]
    else:
        lines += ["", f"{head}; {_differ(len(code['files']), 'entry', 'entries')}"]
        for change in code["files"]:
            note = f" ({change['note']})" if change["note"] else ""
            lines.append(f"  {change['change']:<8}  {change['path']}{note}")
        lines += [change["diff"].rstrip("\n") for change in code["files"] if change["diff"]]

    config = diff["config"]
    changes = config["changes"]
    lines += [
        "",
        f"config: {_differ(len(changes), 'key')}" if changes else "config: the same",
    ]
    if changes:
        rows = [
            {
                "key": c["key"],
                "A": _values(c["a"]),
                "B": _values(c["b"]),
                "swept": "swept" if c["swept"] else "",
            }
            for c in changes
        ]
        lines += [
            f"  {line}" for line in render_table(["key", "A", "B", "swept"], rows, 60).splitlines()
        ]
    unwritten = config["not_written"]
    if unwritten["a"] or unwritten["b"]:
        lines.append(
            f"  not compared: jobs whose config is not written yet (not started): "
            f"A {unwritten['a']}, B {unwritten['b']}"
        )

    results = diff["results"]
    by = results["by"]
    title = f"results by {','.join(by)}" if by else "results (all jobs of each sweep)"
    if results["error"]:
        lines += ["", f"{title}: not compared: {results['error']}"]
    else:
        lines += ["", f"{title}: B - A is the difference of the means"]
        columns = [*by, "metric", "A n", "A mean", "A std", "B n", "B mean", "B std", "B - A"]
        rows = []
        for row in results["rows"]:
            cells = {**row["by"], "metric": row["metric"], "B - A": row["diff"]}
            for side in ("a", "b"):
                cells.update({f"{side.upper()} {s}": row[side][s] for s in SIDE_STATS})
            rows.append({k: format_number(v) for k, v in cells.items()})
        lines += [f"  {line}" for line in render_table(columns, rows).splitlines()]
    return "\n".join(lines)
