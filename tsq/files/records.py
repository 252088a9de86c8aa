"""Instances of record classes as their fields by name, so a task returning its metrics as a
dataclass is summarised as the mapping it stands for.

A dataclass, a NamedTuple, an attrs class or a pydantic model of metrics is a mapping in all
but type: its summary (and so `collect --json`, the CSV and pandas columns, `collect --by`)
keeps one `return.<field>` per field rather than one repr string, which no column or aggregate
can read. `tsq.collect()` still hands back the instance itself, from the result's pickle.

attrs and pydantic are not dependencies of tsq, and the job must not import them: they are
recognised by what their classes carry (`__attrs_attrs__`; `model_dump` with `model_fields`).
"""

from __future__ import annotations

import dataclasses
from typing import Any


def record_fields(value: Any) -> dict[str, Any] | None:
    """The fields of a record instance by name, in declaration order; None for anything else
    (a class itself included). A field that is not set on the instance (an attrs or dataclass
    field with `init=False` and no default) is left out: it has no value to report. A pydantic
    model is read with its own `model_dump()` (nested models become dicts). A record that
    cannot be read (a dump or a field that raises) is not taken for one: the summary keeps its
    repr, as for any object, rather than cost the job its result."""
    if isinstance(value, type):
        return None
    kind = type(value)
    if dataclasses.is_dataclass(kind):
        names = [f.name for f in dataclasses.fields(kind)]
    elif isinstance(value, tuple) and isinstance(getattr(kind, "_fields", None), tuple):
        return dict(zip(kind._fields, value, strict=True))  # type: ignore[attr-defined]
    elif isinstance(getattr(kind, "__attrs_attrs__", None), tuple):
        names = [attribute.name for attribute in kind.__attrs_attrs__]  # type: ignore[attr-defined]
    elif callable(getattr(kind, "model_dump", None)) and hasattr(kind, "model_fields"):
        try:
            dumped = value.model_dump()
        except Exception:
            return None
        return dumped if isinstance(dumped, dict) else None
    else:
        return None
    try:
        return {name: getattr(value, name) for name in names if hasattr(value, name)}
    except Exception:
        return None
