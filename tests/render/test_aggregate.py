"""`tsq.render.aggregate`: groups, statistics, failures and NaN, on plain values (no store, no
ts)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tsq.errors import TsqError
from tsq.files.results import key_names, summary_value
from tsq.render.aggregate import SortKey, aggregate, parse_keys, stats_of
from tsq.render.tables import render_csv, strict_json


def item(num: int, lr: str, seed: int, value: Any = None, state: str = "completed") -> dict:
    return {
        "sweep": "3f9a",
        "num": num,
        "overrides": [f"lr={lr}", f"+seed={seed}"],
        "state": state,
        "return_value": value,
        "error": None if state == "completed" else "boom",
    }


def grid() -> list[dict[str, Any]]:
    """lr 0.1: loss 1, 2, 3; lr 0.2: loss 2, NaN, and a failed job."""
    return [
        item(0, "0.1", 0, {"loss": 1.0, "acc": 0.9, "note": "a"}),
        item(1, "0.1", 1, {"loss": 2.0, "acc": 0.8, "note": "b"}),
        item(2, "0.1", 2, {"loss": 3.0, "acc": 0.7, "note": "c"}),
        item(3, "0.2", 0, {"loss": 2.0, "acc": 0.95, "note": "d"}),
        item(4, "0.2", 1, {"loss": math.nan, "acc": 0.5, "note": "e"}),
        item(5, "0.2", 2, state="failed"),
    ]


def test_groups_by_key_with_stats_over_the_rest() -> None:
    result = aggregate(grid(), ["lr"])
    assert result.metrics == ["loss", "acc"], "`note` is a string: not a metric"
    first, _ = result.groups
    assert first.values == {"lr": "0.1"} and first.nums == [0, 1, 2] and first.failed == []
    assert first.stats["loss"] == {
        "n": 3, "nan": 0, "none": 0, "mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0,
        "best": 1.0,
    }  # fmt: skip
    assert first.best == 0


def test_failed_jobs_are_counted_not_averaged_and_nan_is_counted() -> None:
    second = aggregate(grid(), ["lr"]).groups[1]
    assert second.nums == [3, 4, 5] and second.failed == [5]
    loss = second.stats["loss"]
    assert (loss["n"], loss["nan"], loss["mean"], loss["std"]) == (1, 1, 2.0, None)
    acc = second.stats["acc"]
    assert acc["n"] == 2 and acc["mean"] == pytest.approx(0.725)
    row = aggregate(grid(), ["lr"]).rows()[1]
    assert (row["jobs"], row["failed"], row["loss.nan"]) == (3, 1, 1)


def test_sort_highest_and_best_job() -> None:
    result = aggregate(grid(), ["lr"], SortKey.parse("acc:max"))
    assert [g.values["lr"] for g in result.groups] == ["0.1", "0.2"]  # 0.8 > 0.725
    assert [g.best for g in result.groups] == [0, 3]
    assert result.rows()[1]["best.acc"] == 0.95
    lowest = aggregate(grid(), ["lr"], SortKey.parse("return.loss"))
    assert [g.values["lr"] for g in lowest.groups] == ["0.1", "0.2"]  # 2.0 == 2.0: job order
    top = aggregate(grid(), ["lr"], SortKey.parse("acc"), top=1)
    assert [g.values["lr"] for g in top.groups] == ["0.2"]


def test_a_group_with_no_value_sorts_last() -> None:
    items = [item(0, "0.1", 0, {"loss": math.nan}), item(1, "0.2", 0, {"loss": 5.0})]
    result = aggregate(items, ["lr"], SortKey.parse("loss"))
    assert [g.values["lr"] for g in result.groups] == ["0.2", "0.1"]
    assert result.groups[1].best is None


def test_several_keys_and_plain_return_values() -> None:
    items = [item(n, lr, seed, float(n)) for n, (lr, seed) in enumerate([("1", 0), ("1", 1)])]
    result = aggregate(items, ["lr", "seed"])
    assert result.metrics == ["return_value"] and len(result.groups) == 2
    assert result.columns()[:4] == ["lr", "seed", "jobs", "failed"]


def test_csv_and_strict_json_hold_nan_and_none() -> None:
    result = aggregate(grid(), ["lr"])
    text = render_csv(result.columns(), result.rows())
    assert text.splitlines()[0].startswith("lr,jobs,failed,loss.n,loss.nan,loss.none,loss.mean,")
    assert text.splitlines()[2].startswith("0.2,3,1,1,1,0,2.0,,2.0,2.0")
    doc = strict_json(result.as_json())
    assert '"failed_nums": [5]' in doc and "NaN" not in doc


@pytest.mark.parametrize(
    ("by", "sort", "message"),
    [
        (["optim"], None, "unknown key 'optim' for --by; the sweep's override keys: lr, seed"),
        (["lr"], "los", "unknown metric 'los'; the jobs returned: loss, acc, note"),
        (["lr"], "note", "metric 'note' is not numeric (a job returned 'a', str); "
         "numeric metrics: loss, acc"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(by: list[str], sort: str | None, message: str) -> None:
    with pytest.raises(TsqError) as info:
        aggregate(grid(), by, SortKey.parse(sort) if sort else None)
    assert str(info.value) == message


def test_nothing_numeric_or_nothing_finished() -> None:
    with pytest.raises(TsqError, match="no numeric metric to aggregate; the jobs returned: n"):
        aggregate([item(0, "1", 0, {"n": "x"})], ["lr"])
    with pytest.raises(TsqError, match="no finished job"):
        aggregate([], ["lr"])
    only_failed = aggregate([item(0, "1", 0, state="failed")], ["lr"])
    assert only_failed.metrics == [] and only_failed.groups[0].failed == [0]


def test_parse_keys_and_sort_key() -> None:
    assert parse_keys("lr, +model,lr") == ["lr", "model"]
    with pytest.raises(TsqError, match="bad --by"):
        parse_keys("lr,")
    assert SortKey.parse("acc:max") == SortKey("acc", True)
    with pytest.raises(TsqError, match="bad --sort"):
        SortKey.parse("acc:best")


def test_stats_of_edge_cases() -> None:
    assert stats_of([]) == {
        "n": 0, "nan": 0, "none": 0, "mean": None, "std": None, "min": None, "max": None
    }  # fmt: skip
    assert stats_of([math.nan, math.nan])["nan"] == 2
    assert stats_of([1, 1, 1])["std"] == 0.0
    assert stats_of([1.0, math.inf])["mean"] == math.inf


def test_only_completed_jobs_are_averaged_whatever_they_carry() -> None:
    items = [*grid(), item(6, "0.1", 3, {"loss": 100.0}, state="lost")]
    first = aggregate(items, ["lr"]).groups[0]
    assert first.failed == [6] and first.stats["loss"]["mean"] == 2.0


def test_none_is_counted_like_nan_and_the_metric_kept() -> None:
    items = [item(0, "0.1", 0, {"loss": 1.0}), item(1, "0.1", 1, {"loss": None}),
             item(2, "0.1", 2, {"loss": 3.0})]  # fmt: skip
    result = aggregate(items, ["lr"], SortKey.parse("loss"))
    assert result.metrics == ["loss"]
    loss = result.groups[0].stats["loss"]
    assert (loss["n"], loss["nan"], loss["none"], loss["mean"]) == (2, 0, 1, 2.0)
    assert result.rows()[0]["loss.none"] == 1 and result.groups[0].best == 0
    assert stats_of([None, math.nan, 2.0]) == {
        "n": 1, "nan": 1, "none": 1, "mean": 2.0, "std": None, "min": 2.0, "max": 2.0
    }  # fmt: skip
    with pytest.raises(TsqError, match="no numeric metric to aggregate"):
        aggregate([item(0, "1", 0, {"loss": None})], ["lr"])


def test_integers_are_averaged_exactly() -> None:
    big = stats_of([10**20, 10**20 + 1, 10**20 + 2])
    assert (big["mean"], big["std"]) == (10**20 + 1, 1.0)
    assert type(big["mean"]) is int
    assert stats_of([1, 2])["mean"] == 1.5 and stats_of([1, 2])["std"] == math.sqrt(0.5)
    assert stats_of([2**53, 2**53 + 1])["mean"] == float(2**53)  # nearest to 2**53 + 0.5
    assert stats_of([10**200, -(10**200)])["std"] == pytest.approx(math.sqrt(2) * 1e200)
    assert stats_of([10**400, -(10**400)])["std"] == math.inf
    assert stats_of([1, 2.5])["mean"] == 1.75, "ints and floats: floats"


def test_keys_1_and_str_1_are_two_metrics() -> None:
    assert key_names([1, "1", "a", 2.5, ("x",)]) == ["1 (int)", "1", "a", "2.5", "('x',)"]
    assert key_names([1, "1", "1 (int)"]) == ["1 (int) (int)", "1", "1 (int)"]
    assert summary_value({1: 0.5, "1": 7})[0] == {"1 (int)": 0.5, "1": 7}
    items = [item(n, "0.1", n, {1: float(n), "1": 10.0 * n}) for n in range(3)]
    result = aggregate(items, ["lr"])
    assert result.metrics == ["1 (int)", "1"]
    stats = result.groups[0].stats
    assert (stats["1 (int)"]["mean"], stats["1"]["mean"]) == (1.0, 10.0)
