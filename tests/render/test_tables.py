"""`tsq.render.tables`: status filters and collect exports, on plain values (no store, no ts)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tsq.errors import TsqError
from tsq.render.tables import (
    collect_rows,
    matches,
    override_dict,
    parse_override_filter,
    parse_states,
    render_csv,
    render_json,
    render_table,
    to_frame,
)
from tsq.states import JobState


def item(num: int, overrides: list[str], return_value: Any = None, **extra: Any) -> dict[str, Any]:
    """A `Finished.as_json()` dict, completed unless told otherwise."""
    return {
        "sweep": "3f9a1c2b7d10",
        "num": num,
        "overrides": overrides,
        "state": "completed",
        "return_value": return_value,
        "error": None,
        "exit_code": 0,
        "output_dir": f"/runs/{num}",
        **extra,
    }


FAILED = {"state": "failed", "error": "ValueError: lr must be positive", "exit_code": 1}


# --- parse_states -----------------------------------------------------------------------------


def test_parse_states_one() -> None:
    assert parse_states("failed") == frozenset({JobState.FAILED})


def test_parse_states_several_case_and_spaces() -> None:
    assert parse_states("Failed, LOST,running") == frozenset(
        {JobState.FAILED, JobState.LOST, JobState.RUNNING}
    )


def test_parse_states_repeated() -> None:
    assert parse_states("queued,QUEUED") == frozenset({JobState.QUEUED})


def test_parse_states_every_state() -> None:
    text = ",".join(s.value for s in JobState)
    assert parse_states(text) == frozenset(JobState)


@pytest.mark.parametrize(
    ("text", "bad"),
    [("done", "'done'"), ("failed,done", "'done'"), ("", "''"), ("failed,", "''")],
)
def test_parse_states_bad_value(text: str, bad: str) -> None:
    with pytest.raises(TsqError) as info:
        parse_states(text)
    message = str(info.value)
    assert message == (
        f"unknown state {bad} in --state {text!r}; "
        "valid states: queued, running, completed, failed, cancelled, lost"
    )
    assert info.value.exit_code == 2


def test_parse_states_bad_value_with_newline_is_one_line() -> None:
    with pytest.raises(TsqError) as info:
        parse_states("fail\ned")
    assert "\n" not in str(info.value)
    assert "'fail\\ned'" in str(info.value)


# --- override_dict ----------------------------------------------------------------------------


def test_override_dict_plain_and_prefixed() -> None:
    assert override_dict(["lr=0.1", "+optim=sgd", "++seed=3", "model=a b"]) == {
        "lr": "0.1",
        "optim": "sgd",
        "seed": "3",
        "model": "a b",
    }


def test_override_dict_keeps_order() -> None:
    assert list(override_dict(["b=1", "+a=2", "c=3"])) == ["b", "a", "c"]


def test_override_dict_empty_value() -> None:
    assert override_dict(["+key=", "lr="]) == {"key": "", "lr": ""}


def test_override_dict_splits_on_first_equals() -> None:
    assert override_dict(["expr=a=b", "+cond=x==y"]) == {"expr": "a=b", "cond": "x==y"}


def test_override_dict_skips_deletions() -> None:
    assert override_dict(["~seed", "~db=mysql", "lr=0.1"]) == {"lr": "0.1"}


def test_override_dict_skips_strings_without_key() -> None:
    assert override_dict(["garbage", "=3", "+=4", "lr=1"]) == {"lr": "1"}


def test_override_dict_values_verbatim() -> None:
    overrides = ["model='a b'", "lr=.1", "tags=[a,b]", "name= x "]
    assert override_dict(overrides) == {
        "model": "'a b'",
        "lr": ".1",
        "tags": "[a,b]",
        "name": " x ",
    }


def test_override_dict_last_wins() -> None:
    assert override_dict(["lr=0.1", "+lr=0.2"]) == {"lr": "0.2"}


def test_override_dict_group_and_package_keys() -> None:
    assert override_dict(["db@backup=mysql", "model.layers.0.size=8"]) == {
        "db@backup": "mysql",
        "model.layers.0.size": "8",
    }


def test_override_dict_empty() -> None:
    assert override_dict([]) == {}


# --- parse_override_filter --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lr=0.1", ("lr", "0.1")),
        ("+optim=sgd", ("optim", "sgd")),
        ("++optim=sgd", ("optim", "sgd")),
        ("expr=a=b", ("expr", "a=b")),
        ("key=", ("key", "")),
        ("model=a b", ("model", "a b")),
        (" lr =0.1", ("lr", "0.1")),
    ],
)
def test_parse_override_filter(text: str, expected: tuple[str, str]) -> None:
    assert parse_override_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lr", "bad override filter 'lr': no '='; expected KEY=VALUE, e.g. lr=0.1"),
        ("", "bad override filter '': no '='; expected KEY=VALUE, e.g. lr=0.1"),
        ("=0.1", "bad override filter '=0.1': empty key; expected KEY=VALUE, e.g. lr=0.1"),
        ("+=0.1", "bad override filter '+=0.1': empty key; expected KEY=VALUE, e.g. lr=0.1"),
        (
            "~seed=1",
            "bad override filter '~seed=1': a deleted key (~) has no value; "
            "expected KEY=VALUE, e.g. lr=0.1",
        ),
        ("a\nb", "bad override filter 'a\\nb': no '='; expected KEY=VALUE, e.g. lr=0.1"),
    ],
)
def test_parse_override_filter_malformed(text: str, message: str) -> None:
    with pytest.raises(TsqError) as info:
        parse_override_filter(text)
    assert str(info.value) == message
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


# --- matches ----------------------------------------------------------------------------------

JOB = ["lr=0.1", "+optim=sgd", "model=a b", "expr=a=b", "+tag=", "~seed"]


@pytest.mark.parametrize(
    "filters",
    [
        [],
        [("lr", "0.1")],
        [("optim", "sgd")],
        [("model", "a b")],
        [("expr", "a=b")],
        [("tag", "")],
        [("lr", "0.1"), ("optim", "sgd"), ("model", "a b")],
    ],
)
def test_matches(filters: list[tuple[str, str]]) -> None:
    assert matches(JOB, filters)


@pytest.mark.parametrize(
    "filters",
    [
        [("lr", ".1")],  # exact strings, not numbers
        [("lr", "0.10")],
        [("model", "'a b'")],
        [("expr", "a")],
        [("seed", "")],  # deleted: no value
        [("batch", "32")],  # not set: the job ran with the default, which we cannot see
        [("lr", "0.1"), ("optim", "adam")],  # every filter must hold
    ],
)
def test_does_not_match(filters: list[tuple[str, str]]) -> None:
    assert not matches(JOB, filters)


def test_matches_with_parsed_filters() -> None:
    filters = [parse_override_filter("+optim=sgd"), parse_override_filter("expr=a=b")]
    assert matches(["++optim=sgd", "expr=a=b"], filters)
    assert not matches(["optim=sgd", "expr=a"], filters)


# --- collect_rows -----------------------------------------------------------------------------


def test_collect_rows_spreads_mappings() -> None:
    items = [
        item(0, ["lr=0.1", "model=small"], {"loss": 0.5, "acc": 0.9}),
        item(1, ["lr=0.01", "model=large"], {"loss": 0.25, "acc": 0.95}),
    ]
    columns, rows = collect_rows(items)
    assert columns == [
        "sweep",
        "num",
        "state",
        "lr",
        "model",
        "return.loss",
        "return.acc",
        "error",
        "output_dir",
    ]
    assert rows == [
        {
            "sweep": "3f9a1c2b7d10",
            "num": 0,
            "state": "completed",
            "lr": "0.1",
            "model": "small",
            "return.loss": 0.5,
            "return.acc": 0.9,
            "error": None,
            "output_dir": "/runs/0",
        },
        {
            "sweep": "3f9a1c2b7d10",
            "num": 1,
            "state": "completed",
            "lr": "0.01",
            "model": "large",
            "return.loss": 0.25,
            "return.acc": 0.95,
            "error": None,
            "output_dir": "/runs/1",
        },
    ]


def test_collect_rows_override_keys_first_seen_and_missing() -> None:
    items = [
        item(0, ["lr=0.1"], 1.0),
        item(1, ["+optim=sgd", "lr=0.2", "expr=a=b"], 2.0),
        item(2, ["~seed", "+key="], 3.0),
    ]
    columns, rows = collect_rows(items)
    assert columns == [
        "sweep",
        "num",
        "state",
        "lr",
        "optim",
        "expr",
        "key",
        "return_value",
        "error",
        "output_dir",
    ]
    assert [(r["lr"], r["optim"], r["expr"], r["key"]) for r in rows] == [
        ("0.1", None, None, None),
        ("0.2", "sgd", "a=b", None),
        (None, None, None, ""),
    ]
    assert [r["return_value"] for r in rows] == [1.0, 2.0, 3.0]


def test_collect_rows_return_keys_first_seen_missing_and_failed() -> None:
    items = [
        item(0, ["lr=0.1"], {"loss": 0.5}),
        item(1, ["lr=0.2"], None, **FAILED),
        item(2, ["lr=0.3"], {"acc": 0.75, "loss": 0.125}),
    ]
    columns, rows = collect_rows(items)
    assert columns == [
        "sweep",
        "num",
        "state",
        "lr",
        "return.loss",
        "return.acc",
        "error",
        "output_dir",
    ]
    assert [(r["return.loss"], r["return.acc"]) for r in rows] == [
        (0.5, None),
        (None, None),
        (0.125, 0.75),
    ]
    assert rows[1]["state"] == "failed"
    assert rows[1]["error"] == "ValueError: lr must be positive"


def test_collect_rows_nested_values_in_mapping_are_json() -> None:
    value = {"loss": 0.5, "curve": [1, 0.5], "meta": {"épocas": 2}, "ok": True, "note": None}
    columns, rows = collect_rows([item(0, [], value)])
    assert columns[3:-2] == [
        "return.loss",
        "return.curve",
        "return.meta",
        "return.ok",
        "return.note",
    ]
    assert rows[0]["return.loss"] == 0.5
    assert rows[0]["return.curve"] == "[1, 0.5]"
    assert rows[0]["return.meta"] == '{"épocas": 2}'
    assert rows[0]["return.ok"] is True
    assert rows[0]["return.note"] is None


def test_collect_rows_mixed_returns_keep_the_mapping_columns() -> None:
    """Jobs returning something else than a mapping among jobs returning mappings cost those
    jobs none of their `return.<key>` columns: their values have a `return_value` column."""
    items = [
        item(0, ["lr=0.1"], {"loss": 0.5}),
        item(1, ["lr=0.2"], 0.25),
        item(2, ["lr=0.3"], None, **FAILED),
        item(3, ["lr=0.4"], [1, 2]),
        item(4, ["lr=0.5"], "<Model object at 0x7f>"),
        item(5, ["lr=0.6"], {"acc": [1]}),
    ]
    columns, rows = collect_rows(items)
    assert columns == [
        *("sweep", "num", "state", "lr", "return.loss", "return.acc", "return_value"),
        *("error", "output_dir"),
    ]
    assert [[r[c] for c in columns[4:7]] for r in rows] == [
        [0.5, None, None],
        [None, None, 0.25],
        [None, None, None],
        [None, None, "[1, 2]"],
        [None, None, "<Model object at 0x7f>"],
        [None, "[1]", None],
    ]
    assert "return_value" not in collect_rows([items[0], items[2]])[0], "mappings only"


def test_collect_rows_all_failed_has_one_empty_return_column() -> None:
    items = [item(0, ["lr=0.1"], None, **FAILED), item(1, ["lr=0.2"], None, state="lost")]
    columns, rows = collect_rows(items)
    assert columns == ["sweep", "num", "state", "lr", "return_value", "error", "output_dir"]
    assert [r["return_value"] for r in rows] == [None, None]
    assert [r["state"] for r in rows] == ["failed", "lost"]


def test_collect_rows_empty_mappings_give_no_return_columns() -> None:
    columns, rows = collect_rows([item(0, ["lr=0.1"], {}), item(1, ["lr=0.2"], None)])
    assert columns == ["sweep", "num", "state", "lr", "error", "output_dir"]
    assert len(rows) == 2


def test_collect_rows_no_items() -> None:
    columns, rows = collect_rows([])
    assert columns == ["sweep", "num", "state", "return_value", "error", "output_dir"]
    assert rows == []


def test_collect_rows_override_keys_clashing_with_fixed_columns() -> None:
    items = [item(0, ["state=idle", "+error=x", "return.loss=1", "num=3"], {"loss": 0.5})]
    columns, rows = collect_rows(items)
    assert columns == [
        "sweep",
        "num",
        "state",
        "override.state",
        "override.error",
        "override.return.loss",
        "override.num",
        "return.loss",
        "error",
        "output_dir",
    ]
    row = rows[0]
    assert (row["state"], row["override.state"]) == ("completed", "idle")
    assert (row["num"], row["override.num"]) == (0, "3")
    assert (row["error"], row["override.error"]) == (None, "x")
    assert (row["return.loss"], row["override.return.loss"]) == (0.5, "1")


def test_collect_rows_override_named_return_value_only_clashes_in_one_column_mode() -> None:
    columns, _ = collect_rows([item(0, ["return_value=1"], 2.0)])
    assert "override.return_value" in columns
    columns, _ = collect_rows([item(0, ["return_value=1"], {"a": 1})])
    assert "return_value" in columns


def test_collect_rows_clash_prefixes_until_unique() -> None:
    columns, rows = collect_rows([item(0, ["state=a", "override.state=b"], None)])
    # `override.state` is itself an override key: it keeps its name, `state` goes around it.
    assert columns[3:5] == ["override.override.state", "override.state"]
    assert rows[0]["override.override.state"] == "a"
    assert rows[0]["override.state"] == "b"
    columns, rows = collect_rows([item(0, ["override.state=b", "state=a"], None)])
    assert columns[3:5] == ["override.state", "override.override.state"]
    assert (rows[0]["override.state"], rows[0]["override.override.state"]) == ("b", "a")


def test_collect_rows_does_not_modify_input() -> None:
    items = [item(0, ["lr=0.1"], {"loss": [1, 2]})]
    before = json.loads(json.dumps(items))
    collect_rows(items)
    assert items == before


# --- render_csv -------------------------------------------------------------------------------


def test_render_csv_exact() -> None:
    items = [
        item(0, ["lr=0.1", "model=a b"], {"loss": 0.5}),
        item(1, ["lr=0.2", "model=c,d"], None, **FAILED),
    ]
    assert render_csv(*collect_rows(items)) == (
        "sweep,num,state,lr,model,return.loss,error,output_dir\n"
        "3f9a1c2b7d10,0,completed,0.1,a b,0.5,,/runs/0\n"
        '3f9a1c2b7d10,1,failed,0.2,"c,d",,ValueError: lr must be positive,/runs/1\n'
    )


def test_render_csv_quotes_commas_quotes_and_newlines() -> None:
    items = [
        item(0, ['msg=say "hi", then', "expr=a=b"], "line one\nline two", error='a "b", c'),
    ]
    columns, rows = collect_rows(items)
    text = render_csv(columns, rows)
    assert text.splitlines()[1] == ('3f9a1c2b7d10,0,completed,"say ""hi"", then",a=b,"line one')
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed == [
        ["sweep", "num", "state", "msg", "expr", "return_value", "error", "output_dir"],
        [
            "3f9a1c2b7d10",
            "0",
            "completed",
            'say "hi", then',
            "a=b",
            "line one\nline two",
            'a "b", c',
            "/runs/0",
        ],
    ]


def test_render_csv_json_cells_round_trip() -> None:
    columns, rows = collect_rows([item(0, [], {"curve": [1, 2], "meta": {"k": "v,w"}})])
    parsed = list(csv.DictReader(io.StringIO(render_csv(columns, rows))))
    assert json.loads(parsed[0]["return.curve"]) == [1, 2]
    assert json.loads(parsed[0]["return.meta"]) == {"k": "v,w"}


def test_render_csv_none_is_empty_and_bools() -> None:
    text = render_csv(["a", "b", "c"], [{"a": None, "b": True, "c": 0}])
    assert text == "a,b,c\n,True,0\n"


def test_render_csv_header_only() -> None:
    assert render_csv(["sweep", "num"], []) == "sweep,num\n"


# --- render_table -----------------------------------------------------------------------------


def test_render_table_exact() -> None:
    items = [
        item(0, ["lr=0.1", "model=small"], {"loss": 0.5}),
        item(10, ["lr=0.01", "model=large"], None, **{**FAILED, "error": "ValueError: bad lr"}),
    ]
    assert render_table(*collect_rows(items)).splitlines() == [
        "sweep         num  state      lr    model  return.loss  error               output_dir",
        "3f9a1c2b7d10  0    completed  0.1   small  0.5                              /runs/0",
        "3f9a1c2b7d10  10   failed     0.01  large               ValueError: bad lr  /runs/10",
    ]
    assert not render_table(*collect_rows(items)).endswith("\n")


def test_render_table_truncates_at_max_width() -> None:
    text = render_table(["a", "b"], [{"a": "x" * 12, "b": "short"}], max_width=10)
    assert text == "a           b\nxxxxxxx...  short"
    assert len(text.splitlines()[1].split("  ")[0]) == 10


def test_render_table_exactly_max_width_not_truncated() -> None:
    text = render_table(["a"], [{"a": "y" * 10}], max_width=10)
    assert text == "a\nyyyyyyyyyy"


def test_render_table_default_width_40() -> None:
    long = "e" * 100
    line = render_table(["error"], [{"error": long}]).splitlines()[1]
    assert line == "e" * 37 + "..."


def test_render_table_truncates_headers() -> None:
    assert render_table(["return.validation_loss"], [], max_width=10) == "return...."


def test_render_table_none_newlines_and_no_trailing_spaces() -> None:
    text = render_table(["a", "b", "c"], [{"a": None, "b": "one\ntwo", "c": None}])
    assert text == "a  b         c\n   one\\ntwo"
    assert all(line == line.rstrip() for line in text.splitlines())


def test_render_table_rejects_tiny_width() -> None:
    with pytest.raises(ValueError, match="max_width must be at least 4, not 3"):
        render_table(["a"], [], max_width=3)


# --- render_json ------------------------------------------------------------------------------


def test_render_json_keeps_nested_shape() -> None:
    items = [item(0, ["lr=0.1", "+optim=sgd"], {"loss": 0.5, "curve": [1, 2]})]
    text = render_json(items)
    assert json.loads(text) == items
    assert text == json.dumps(items, indent=1)
    assert '\n "sweep"' not in text  # indent=1 inside the array: objects at 1, keys at 2
    assert '\n  "overrides": [\n   "lr=0.1",' in text


def test_render_json_empty() -> None:
    assert render_json([]) == "[]"


# --- to_frame ---------------------------------------------------------------------------------


def test_to_frame() -> None:
    pd = pytest.importorskip("pandas")
    items = [
        item(0, ["lr=0.1"], {"loss": 0.5}),
        item(1, ["lr=0.2", "+optim=sgd"], None, **FAILED),
    ]
    columns, rows = collect_rows(items)
    frame = to_frame(columns, rows)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == columns
    assert frame["num"].tolist() == [0, 1]
    assert frame["lr"].tolist() == ["0.1", "0.2"]
    assert pd.isna(frame.loc[0, "optim"])
    assert frame.loc[1, "optim"] == "sgd"
    assert frame.loc[0, "return.loss"] == 0.5
    assert pd.isna(frame.loc[1, "return.loss"])
    assert pd.isna(frame.loc[0, "error"])
    assert frame.loc[1, "error"] == "ValueError: lr must be positive"
    assert frame["state"].tolist() == ["completed", "failed"]


def test_to_frame_empty_keeps_columns() -> None:
    pytest.importorskip("pandas")
    frame = to_frame(["sweep", "num"], [])
    assert list(frame.columns) == ["sweep", "num"]
    assert len(frame) == 0


def test_to_frame_without_pandas_is_one_line_error() -> None:
    """In a fresh interpreter where `import pandas` fails, as it does when it is not installed."""
    code = textwrap.dedent(
        """\
        import sys
        sys.modules["pandas"] = None
        from tsq.errors import TsqError
        from tsq.render.tables import to_frame
        try:
            to_frame(["a"], [{"a": 1}])
        except TsqError as e:
            print(repr(str(e)), e.exit_code)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "\"pandas is not installed: pip install 'tsq[pandas]'\" 2\n"


def test_tables_does_not_import_pandas_or_hydra() -> None:
    code = (
        "import sys, tsq.render.tables; "
        "print(sorted(m for m in ('pandas', 'hydra', 'sqlalchemy') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"
