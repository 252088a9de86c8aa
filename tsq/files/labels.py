"""Job labels: how a queue's row is told to be a job's, built and matched here only.

A queue's own id is no identity: ts ids restart at 0 with every new server, and a job queued by a
command that died before recording its id has no id in the store at all. Every attempt of every
job therefore gets a label unique to it, shown by the queue beside its id; a row is the job's only
if its label is the job's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol, TypeVar


def sweep_label(task_name: str, sweep_id: str) -> str:
    """What every label of a sweep starts with: readable in `tsp -l`, unique by the id."""
    name = re.sub(r"[^\w.-]+", "_", task_name)[:40] or "job"
    return f"{name}/{sweep_id}"


def make_label(task_name: str, sweep_id: str, num: int, attempt: int = 1) -> str:
    """A job attempt's label."""
    suffix = f"#{attempt}" if attempt > 1 else ""
    return f"{sweep_label(task_name, sweep_id)}/{num}{suffix}"


class Labelled(Protocol):
    @property
    def label(self) -> str | None: ...


Row = TypeVar("Row", bound=Labelled)


def match(
    label: str, queue_id: int | None, by_id: Mapping[int, Row], by_label: Mapping[str, Row]
) -> Row | None:
    """The row of the job attempt labelled `label`: the one under its recorded id if the label
    agrees, else the one with its label (the id was never recorded, or belongs to a new
    server's job now)."""
    row = by_id.get(queue_id) if queue_id is not None else None
    if row is not None and row.label == label:
        return row
    return by_label.get(label)
