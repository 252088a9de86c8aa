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


def barrier_label(task_name: str, sweep_id: str, after_id: str) -> str:
    """The label of the barrier job that holds sweep `sweep_id` back until sweep `after_id`
    has ended (`depends_on=sweep:`)."""
    return f"{sweep_label(task_name, sweep_id)}/after-{after_id}"


def array_name(label: str, attempt: int, offset: int = 0) -> str:
    """The Slurm job name of an attempt when the user sets none: its label without the job's
    number (array tasks share one name), and the offset of its array's task ids when there is
    one (`+50`), so a job queued but never recorded is found again (`named_task`)."""
    sweep_part = label.rsplit("/", 1)[0]
    name = f"{sweep_part}#{attempt}" if attempt > 1 else sweep_part
    return f"{name}+{offset}" if offset else name


def named_task(name: str | None, task: int | None) -> tuple[str | None, int | None]:
    """(name without its offset, job number) of an array task named by `array_name`."""
    base, plus, offset = (name or "").rpartition("+")
    if plus and offset.isdigit() and task is not None:
        return base, task + int(offset)
    return name, task


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
