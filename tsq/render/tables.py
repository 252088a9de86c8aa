"""Filters for `tsq status` and the flat exports of `tsq collect`, as pure functions.

Nothing here touches the store, task-spooler or Hydra: the CLI reads jobs and `Finished.as_json()`
dicts, and these functions only parse what the user typed and reshape what was read. That keeps
every rule (how a filter matches an override, which columns an export has) testable with plain
values, and the same whether the rows end up as a table, CSV or a pandas DataFrame.

Overrides are the strings Hydra recorded for a job (`lr=0.1`, `+optim=sgd`, `~seed`). Their key is
what comes before the first `=` without Hydra's `+`, `++` or `~` prefix, since the prefix says how
the value got into the config, not which value it is: a filter `optim=sgd` matches `+optim=sgd`.
Values are compared and shown exactly as recorded: `lr=0.1` is not `lr=.1`, and `model='a b'`
is not `model=a b`. Hydra would read both pairs as the same value, but guessing its parser here
would make a filter match things the user cannot see in `tsq status`.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is an optional extra
    import pandas

from tsq.errors import TsqError
from tsq.states import JobState

_PREFIXES = ("++", "+")  # longest first, so `++key` loses both signs
_DELETE = "~"
_LEADING = ("sweep", "num", "state")
_TRAILING = ("error", "output_dir")
RETURN_VALUE = "return_value"
RETURN_PREFIX = "return."
OVERRIDE_PREFIX = "override."


# --- filters for `tsq status` -----------------------------------------------------------------


def parse_states(text: str) -> frozenset[JobState]:
    """The states named in `--state STATE[,STATE]`, case-insensitive.

    Raises `TsqError` naming the first bad value and the valid ones, so a typo (`--state done`)
    is a one-line usage error rather than a filter that silently matches nothing.
    """
    valid = ", ".join(s.value for s in JobState)
    states: set[JobState] = set()
    for part in text.split(","):
        name = part.strip().lower()
        try:
            states.add(JobState(name))
        except ValueError:
            raise TsqError(
                f"unknown state {part.strip()!r} in --state {text!r}; valid states: {valid}"
            ) from None
    return frozenset(states)


@functools.lru_cache(maxsize=4096)
def _split(override: str) -> tuple[str, str] | None:
    """(key without prefix, value) of one recorded override; None for deletions and non-overrides.

    A deletion (`~key` or `~key=value`) removes the key from the job's config, so the job has no
    value for it: it is left out rather than shown as "", which would be a real (empty) value,
    the one `key=` sets. A string without `=` cannot set anything and is left out too. Spaces
    around the key are dropped (Hydra keys cannot hold any); the value is kept verbatim.
    Cached: a sweep's jobs share most of their overrides (100 jobs with `lr=0.1`...).
    """
    if override.startswith(_DELETE) or "=" not in override:
        return None
    key, value = override.split("=", 1)
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    key = key.strip()
    return (key, value) if key else None


def override_dict(overrides: Sequence[str]) -> dict[str, str]:
    """Key -> value of a job's overrides, in their order; keys without `+`/`++`, values verbatim.

    The value is everything after the first `=` (`expr=a=b` sets `expr` to `a=b`), as Hydra reads
    it. Deletions (`~key`) are left out: the job has no value for that key. Should a key appear
    twice (Hydra refuses that at launch), the last one wins.
    """
    pairs = (_split(o) for o in overrides)
    return dict(pair for pair in pairs if pair is not None)


def parse_override_filter(text: str) -> tuple[str, str]:
    """(key, value) of a filter such as `lr=0.1` or `+optim=sgd`; matches via `matches`.

    Split on the first `=`, like an override, so `expr=a=b` looks for the value `a=b`; `key=`
    looks for an empty value. A `+`/`++` prefix is dropped, since jobs are matched whatever their
    prefix. A `~key` filter is refused: a deleted key has no value to compare. The value is kept
    verbatim (see the module docstring). Every refusal is a one-line `TsqError`.
    """
    example = "expected KEY=VALUE, e.g. lr=0.1"
    if "=" not in text:
        raise TsqError(f"bad override filter {text!r}: no '='; {example}")
    if text.startswith(_DELETE):
        raise TsqError(f"bad override filter {text!r}: a deleted key (~) has no value; {example}")
    pair = _split(text)
    if pair is None:
        raise TsqError(f"bad override filter {text!r}: empty key; {example}")
    return pair


def matches(overrides: Sequence[str], filters: Sequence[tuple[str, str]]) -> bool:
    """Whether a job's overrides satisfy every filter (no filters: every job does).

    A job that does not set a filter's key at all does not match it: it ran with the config's
    default, which `tsq status` cannot see.
    """
    values = override_dict(overrides)
    return all(key in values and values[key] == value for key, value in filters)


# --- exports of `tsq collect` -----------------------------------------------------------------


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _finite(value: Any) -> Any:
    """`value` with every NaN, inf and -inf float as the string "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, Mapping):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def strict_json(value: Any, **options: Any) -> str:
    """JSON text any strict parser (`jq`, JavaScript's JSON.parse) reads: NaN, inf and -inf,
    which standard JSON has no numbers for, are written as the strings "NaN", "Infinity" and
    "-Infinity" (as protobuf's JSON mapping does; `float()` reads them back). Python's own `NaN`
    literals would make the whole output unreadable to those parsers."""
    try:
        return json.dumps(value, allow_nan=False, **options)
    except ValueError:  # the rare value holding a non-finite float: pay for a second walk
        return json.dumps(_finite(value), allow_nan=False, **options)


def _encode(value: Any) -> Any:
    """A cell: scalars as they are (NaN stays a float: CSV writes `nan`, pandas reads a
    number), anything else as strict JSON text, so every cell is one value."""
    if _is_scalar(value):
        return value
    return strict_json(value, ensure_ascii=False, default=repr)


def _override_columns(keys: Sequence[str], reserved: set[str]) -> dict[str, str]:
    """Override key -> its column: the key itself, or `override.<key>` if a column is `key`.

    Keys that clash with no other column are named first, so a renamed column never takes the
    name of another override key (`state` and `override.state` give `override.override.state`
    and `override.state`): a column named like an override key always holds that key.
    """
    taken = reserved | {k for k in keys if k not in reserved}
    columns: dict[str, str] = {}
    for key in keys:
        name = key
        if key in reserved:
            while name in taken:
                name = OVERRIDE_PREFIX + name
            taken.add(name)
        columns[key] = name
    return columns


def collect_rows(items: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and flat rows for `Finished.as_json()` dicts, one row per job, in their order.

    Columns: `sweep`, `num`, `state`; one per override key, in first-seen order across the jobs
    (None where a job does not set it); the return value; `error`; `output_dir`.

    A returned mapping (the usual `{"loss": ..., "acc": ...}`, or a dataclass or other record,
    which its summary holds as one: `tsq.records`) is spread into columns `return.<key>`, one
    per key of any job's mapping in first-seen order, None where a job's mapping lacks it or
    the job returned something else or nothing (failed jobs). Any other value (a plain number,
    a string) goes to one `return_value` column, there when some job returned such a value or
    when no job returned a mapping: in a sweep where some jobs return mappings and others not,
    the mapping jobs keep their columns and no job's value is lost or misplaced. Scalar cells
    (str, int, float, bool, None) are kept as they are; lists and mappings are encoded as JSON
    text.

    The `return.` prefix keeps return keys apart from one another's and from the fixed columns.
    An override key can still collide (an app with a `state` or `error` option, or a dotted key
    `return.loss`): such a column is named `override.<key>` instead, so no cell overwrites another
    (see `_override_columns`).
    """
    parsed = [override_dict(item.get("overrides") or ()) for item in items]
    values = [item.get(RETURN_VALUE) for item in items]
    mappings = [v for v in values if isinstance(v, Mapping)]
    return_keys = list(dict.fromkeys(str(k) for v in mappings for k in v))
    return_cols = {k: RETURN_PREFIX + k for k in return_keys}
    others = not mappings or any(v is not None and not isinstance(v, Mapping) for v in values)
    value_col = [RETURN_VALUE] if others else []

    taken = {*_LEADING, *return_cols.values(), *value_col, *_TRAILING}
    override_keys = list(dict.fromkeys(k for overrides in parsed for k in overrides))
    override_cols = _override_columns(override_keys, taken)

    columns = [*_LEADING, *override_cols.values(), *return_cols.values(), *value_col, *_TRAILING]

    rows: list[dict[str, Any]] = []
    for item, overrides, value in zip(items, parsed, values, strict=True):
        row: dict[str, Any] = {name: item.get(name) for name in _LEADING}
        row.update({col: overrides.get(key) for key, col in override_cols.items()})
        mapping = {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}
        row.update({return_cols[k]: _encode(mapping.get(k)) for k in return_keys})
        if others:
            row[RETURN_VALUE] = None if isinstance(value, Mapping) else _encode(value)
        row.update({name: item.get(name) for name in _TRAILING})
        rows.append(row)
    return columns, rows


def render_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """CSV text with a header row; None is an empty cell; every record ends with `\\n`.

    The stdlib writer quotes cells holding commas, quotes or line breaks, so errors and JSON
    cells survive a round trip through any CSV reader. `\\n` rather than CSV's `\\r\\n`, since
    the text goes to a terminal or a Unix pipe.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue()


def _cell(value: Any, max_width: int) -> str:
    text = "" if value is None else str(value)
    # One job per line: a line break inside a cell (an error, a string value) would split it.
    text = text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= max_width else text[: max_width - 3] + "..."


def render_table(
    columns: Sequence[str], rows: Iterable[Mapping[str, Any]], max_width: int = 40
) -> str:
    """Aligned text, a header line then one line per row, columns two spaces apart.

    Cells (headers too) longer than `max_width` end in "..." at that width, so one long error
    or value does not push every other column off the screen; line breaks in a cell show as
    `\\n`. None is an empty cell. No trailing spaces and no final newline.
    """
    if max_width < 4:
        raise ValueError(f"max_width must be at least 4, not {max_width}")
    lines = [[_cell(c, max_width) for c in columns]]
    lines += [[_cell(row.get(c), max_width) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def render_json(items: Sequence[Mapping[str, Any]]) -> str:
    """The `as_json()` dicts as a JSON array, nested as they are (overrides stay a list).

    JSON can hold the nested shape, so it gets it: flattening is only for tables and CSV. The
    text is strict JSON (see `strict_json`).
    """
    return strict_json([dict(item) for item in items], indent=1)


def to_frame(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> pandas.DataFrame:
    """The rows as a pandas DataFrame with these columns in this order.

    Empty cells become whatever pandas makes of None in that column's dtype (NaN in numeric and,
    with pandas 3, string columns): test them with `isna()`, not `is None`.

    pandas is imported here, not at module level: it is an optional extra, and most commands
    never need it. Missing pandas is a one-line `TsqError` saying how to install it; any other
    import failure (a broken pandas) is left to surface as it is.
    """
    try:
        import pandas as pd
    except ModuleNotFoundError as e:
        if e.name != "pandas":
            raise
        raise TsqError("pandas is not installed: pip install 'tsq[pandas]'") from None
    return pd.DataFrame.from_records(
        [{c: row.get(c) for c in columns} for row in rows], columns=list(columns)
    )
