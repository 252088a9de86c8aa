"""`tsq collect --by KEY[,KEY]`: finished jobs grouped by some overrides, the rest aggregated.

Pure functions over `Finished.as_json()` dicts, like `tsq.render.tables`: nothing here touches
the store. Jobs are grouped by the values of the `--by` overrides (as recorded, see
`tsq.render.tables`); every other override (typically `seed`) varies inside a group and is
aggregated over. For each numeric metric the jobs returned (the keys of a returned mapping, or
of a record, which its summary holds as one: `tsq.files.records`; or `return_value` when jobs
return a plain number), each group gets n, mean, std (sample, n-1), min and max, and the best
job of the group by the sort metric. Integers are averaged exactly (a float holds 53 bits:
`10**20 + 1` is not one): the mean is an int when it is a whole number, the std the float
nearest the exact one. Keys that only JSON would merge (`1` and `"1"`) are two metrics, named
as the result's summary names them (`tsq.files.results.key_names`: "1 (int)" and "1").

The rules that keep an aggregate honest:

- only completed jobs are averaged; failed, lost and cancelled jobs are counted per group
  (`failed`) and their numbers listed, never averaged in, never dropped silently;
- a NaN value is counted (`<metric>.nan`) and left out of n, mean, std, min and max, so a group
  whose runs diverged says so instead of showing NaN or a mean of the survivors as if complete;
  a None value likewise (`<metric>.none`): a job that returned no value for it;
- a metric is numeric when every completed job that returned it returned an int or float (not a
  bool) or None, and one returned a number: one string among numbers makes it non-numeric, and
  naming it is an error, not a guess.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tsq.errors import TsqError
from tsq.files.results import key_names
from tsq.render.tables import RETURN_PREFIX, RETURN_VALUE, override_dict
from tsq.states import JobState

STATS = ("n", "nan", "none", "mean", "std", "min", "max")
COMPLETED = JobState.COMPLETED.value  # an item's "state" (`Finished.as_json()`)


@dataclass(frozen=True)
class SortKey:
    """`--sort METRIC` (lowest first, the best being the lowest) or `METRIC:max`."""

    metric: str
    highest: bool = False

    @classmethod
    def parse(cls, text: str) -> SortKey:
        name, sep, way = text.rpartition(":")
        if not sep:
            name, way = text, "min"
        if way not in ("min", "max"):
            raise TsqError(f"bad --sort {text!r}: write METRIC, METRIC:min or METRIC:max")
        name = name.strip().removeprefix(RETURN_PREFIX)
        if not name:
            raise TsqError(f"bad --sort {text!r}: no metric named")
        return cls(name, way == "max")


@dataclass
class Group:
    """One group of jobs: the `--by` values they share, and what they returned."""

    values: dict[str, str | None]
    nums: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    best: int | None = None  # the job number of the best completed job

    def row(self, metrics: Sequence[str], best_metric: str | None) -> dict[str, Any]:
        """A flat row for tables and CSV."""
        row: dict[str, Any] = dict(self.values)
        row["jobs"] = len(self.nums)
        row["failed"] = len(self.failed)
        for metric in metrics:
            row.update({f"{metric}.{s}": self.stats[metric][s] for s in STATS})
        row["best"] = self.best
        if best_metric is not None:
            row[f"best.{best_metric}"] = self.best_value(best_metric)
        return row

    def best_value(self, metric: str) -> Any:
        return self.stats[metric].get("best")

    def as_json(self, best_metric: str | None) -> dict[str, Any]:
        return {
            "by": dict(self.values),
            "jobs": len(self.nums),
            "nums": list(self.nums),
            "failed": len(self.failed),
            "failed_nums": list(self.failed),
            "metrics": {
                m: {s: v for s, v in stats.items() if s in STATS} for m, stats in self.stats.items()
            },
            "best": None
            if self.best is None
            else {
                "num": self.best,
                "metric": best_metric,
                "value": None if best_metric is None else self.best_value(best_metric),
            },
        }


@dataclass
class Aggregate:
    by: list[str]
    metrics: list[str]
    best_metric: str | None
    groups: list[Group]

    def columns(self) -> list[str]:
        columns = [*self.by, "jobs", "failed"]
        columns += [f"{m}.{s}" for m in self.metrics for s in STATS]
        columns.append("best")
        if self.best_metric is not None:
            columns.append(f"best.{self.best_metric}")
        return columns

    def rows(self) -> list[dict[str, Any]]:
        return [g.row(self.metrics, self.best_metric) for g in self.groups]

    def as_json(self) -> dict[str, Any]:
        return {
            "by": list(self.by),
            "metrics": list(self.metrics),
            "best_metric": self.best_metric,
            "groups": [g.as_json(self.best_metric) for g in self.groups],
        }


def parse_keys(text: str) -> list[str]:
    """`--by lr,model` -> ["lr", "model"]; `+`/`++` prefixes dropped, as in filters."""
    keys = [k.strip().lstrip("+") for k in text.split(",")]
    if not all(keys):
        raise TsqError(f"bad --by {text!r}: write KEY[,KEY...], e.g. --by lr,model")
    return list(dict.fromkeys(keys))


def grouping(
    by: str | Sequence[str] | None, sort: str | None, top: int | None
) -> tuple[list[str], SortKey | None, int | None] | None:
    """`--by`, `--sort` and `--top` (`by`, `sort`, `top` of `tsq.collect_frame`), checked
    together before anything is read: the keys, the sort key and N; None without `by`."""
    if by is None:
        if sort is not None or top is not None:
            raise TsqError("--sort and --top rank groups: give --by KEY[,KEY...] too")
        return None
    key = SortKey.parse(sort) if sort is not None else None
    if top is not None and key is None:
        raise TsqError("--top N keeps the best groups: give --sort METRIC too")
    return (parse_keys(by) if isinstance(by, str) else list(by)), key, top


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _metrics_of(value: Any) -> dict[str, Any]:
    """A returned value as metric name -> value: a mapping's keys, named as its summary names
    them; a plain value is the metric `return_value`."""
    if not isinstance(value, Mapping):
        return {RETURN_VALUE: value}
    return dict(zip(key_names(list(value)), value.values(), strict=True))


def returned_metrics(items: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Metric name -> the values completed jobs returned for it, in first-seen order."""
    found: dict[str, list[Any]] = {}
    for item in items:
        if item.get("state") != COMPLETED:
            continue
        value = item.get(RETURN_VALUE)
        if value is None:
            continue
        for key, v in _metrics_of(value).items():
            found.setdefault(key, []).append(v)
    return found


def _numeric(found: Mapping[str, list[Any]]) -> list[str]:
    """Metrics every job returned a number or None for, and one a number."""
    return [
        m
        for m, values in found.items()
        if any(_is_number(v) for v in values) and all(v is None or _is_number(v) for v in values)
    ]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


def _check_metric(name: str, found: Mapping[str, list[Any]], numeric: Sequence[str]) -> None:
    if name in numeric:
        return
    if name in found:
        bad = next((v for v in found[name] if not _is_number(v) and v is not None), None)
        raise TsqError(
            f"metric {name!r} is not numeric (a job returned {_describe(bad)}, "
            f"{type(bad).__name__}); numeric metrics: {', '.join(numeric) or 'none'}"
        )
    raise TsqError(f"unknown metric {name!r}; the jobs returned: {', '.join(found) or 'nothing'}")


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def stats_of(values: Sequence[float | None]) -> dict[str, Any]:
    """n, nan, none, mean, std (n-1; None under two values), min, max of numbers; NaN and None
    only counted. Integers alone are averaged exactly (`statistics` works in fractions)."""
    nan = sum(1 for v in values if _is_nan(v))
    none = sum(1 for v in values if v is None)
    kept = [v for v in values if v is not None and not _is_nan(v)]
    n = len(kept)
    counts = {"n": n, "nan": nan, "none": none}
    if n == 0:
        return {**counts, "mean": None, "std": None, "min": None, "max": None}
    if all(isinstance(v, int) for v in kept):
        mean: float = statistics.mean(kept)  # an int when the exact mean is a whole number
        try:
            std = statistics.stdev(kept) if n > 1 else None
        except OverflowError:  # a spread over 1e308: no float holds it
            std = math.inf
    elif all(math.isfinite(v) for v in kept):
        mean = math.fsum(kept) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in kept) / (n - 1)) if n > 1 else None
    else:  # inf among the values: the sum is exact to say, the spread is not
        mean = sum(kept) / n
        std = math.nan if n > 1 else None
    return {**counts, "mean": mean, "std": std, "min": min(kept), "max": max(kept)}


def aggregate(
    items: Sequence[Mapping[str, Any]],
    by: Sequence[str],
    sort: SortKey | None = None,
    top: int | None = None,
    *,
    parsed: Sequence[Mapping[str, str]] | None = None,
    found: Mapping[str, list[Any]] | None = None,
) -> Aggregate:
    """Group terminal jobs (`Finished.as_json()` dicts) by the `by` overrides and aggregate.

    Groups come in first-seen job order, or by the mean of `sort` (best first: lowest, or
    highest for `METRIC:max`; groups without a value last); `top` keeps the first N. Each one-line
    refusal is a `TsqError`: nothing finished, a `by` key no job sets, an unknown or non-numeric
    sort metric, no numeric metric at all. `parsed`: the items' overrides as `override_dict`
    gives them, and `found`: `returned_metrics(items)`, when the caller has them already (the
    page needs both itself).
    """
    if not items:
        raise TsqError("no finished job to aggregate yet")
    if top is not None and top < 1:
        raise TsqError(f"--top must be at least 1, not {top}")
    if parsed is None:
        parsed = [override_dict(item.get("overrides") or ()) for item in items]
    known = list(dict.fromkeys(k for overrides in parsed for k in overrides))
    for key in by:
        if key not in known:
            raise TsqError(
                f"unknown key {key!r} for --by; the sweep's override keys: "
                f"{', '.join(known) or 'none'}"
            )
    if found is None:
        found = returned_metrics(items)
    numeric = _numeric(found)
    if sort is not None:
        _check_metric(sort.metric, found, numeric)
    elif found and not numeric:
        kinds = ", ".join(f"{m} ({type(v[0]).__name__})" for m, v in found.items())
        raise TsqError(f"no numeric metric to aggregate; the jobs returned: {kinds}")
    best_metric = sort.metric if sort is not None else (numeric[0] if numeric else None)
    highest = sort.highest if sort is not None else False

    groups: dict[tuple[str | None, ...], Group] = {}
    values: dict[tuple[str | None, ...], dict[str, list[tuple[int, Any]]]] = {}
    for item, overrides in zip(items, parsed, strict=True):
        key = tuple(overrides.get(k) for k in by)
        group = groups.setdefault(key, Group(dict(zip(by, key, strict=True))))
        num = int(item["num"])
        group.nums.append(num)
        if item.get("state") != COMPLETED:
            group.failed.append(num)
            continue
        mapping = _metrics_of(item.get(RETURN_VALUE))
        per_metric = values.setdefault(key, {})
        for metric in numeric:
            if metric in mapping:  # None too: counted, not averaged
                per_metric.setdefault(metric, []).append((num, mapping[metric]))

    for key, group in groups.items():
        per_metric = values.get(key, {})
        for metric in numeric:
            pairs = per_metric.get(metric, [])
            group.stats[metric] = stats_of([v for _, v in pairs])
        if best_metric is not None:
            candidates = [
                (v, num)
                for num, v in per_metric.get(best_metric, [])
                if v is not None and not _is_nan(v)
            ]
            if candidates:
                pick = max if highest else min
                value, num = pick(candidates, key=lambda pair: pair[0])
                group.best = num
                group.stats[best_metric]["best"] = value

    ordered = list(groups.values())
    if sort is not None:

        def rank(group: Group) -> tuple[bool, float]:
            mean = group.stats[sort.metric]["mean"]
            if mean is None or math.isnan(mean):
                return (True, 0.0)
            return (False, -mean if sort.highest else mean)

        ordered.sort(key=rank)  # stable: ties keep job order
    if top is not None:
        ordered = ordered[:top]
    return Aggregate(list(by), numeric, best_metric, ordered)


def format_number(value: Any) -> Any:
    """A table cell: floats to 4 significant digits; everything else as it is."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return value
