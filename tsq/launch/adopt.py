"""Recording sweeps again from their files: `tsq adopt DIR`.

A store deleted (or its `-wal` lost before a checkpoint) while sweeps run comes back empty at the
next launch, and those sweeps' jobs go on unrecorded. Their spool dirs still hold what the store
had: each launch batch leaves a record (`record-<first num>.json`, written before the store is
touched: the sweep's row and its jobs' numbers and overrides), and the jobs' own files say which
attempt each reached. `adopt` rebuilds the sweep's and jobs' rows from them, each job queued at
its latest attempt with no queue id (held in the store, as launched, when it was past
`max_queued` and left no file), and a refresh then decides every state as it always does:
from the job's result and `started` files, and its queue, found there by its label.

What the files do not hold is not made up: earlier attempts of a retried job are not archived
again (their files stay in the spool dir), and a sweep launched before records were written
cannot be adopted.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsq.backends import current_record
from tsq.errors import SpecError, TsqError
from tsq.files.labels import make_label
from tsq.files.safeio import write_atomic
from tsq.files.spool import SpoolDir
from tsq.render.words import plural
from tsq.states import INTENT_HOLD, JobState
from tsq.store import Job, Store, Sweep

# The Sweep columns that come from where the files are now, not from the record.
_PLACED = ("sweep_dir", "spool_dir", "njobs")


def write_record(spool: SpoolDir, first_num: int, sweep: Sweep, jobs: list[Job]) -> None:
    """Leave what the store is about to hold of one launch batch in the spool dir, so that
    `adopt` can record it again should the store be lost."""
    row = {
        column.name: getattr(sweep, column.name)
        for column in Sweep.__table__.columns
        if column.name not in _PLACED
    }
    batch = [
        {
            "num": job.num,
            "overrides": list(job.overrides),
            "host": job.host,
            "held": job.intent == INTENT_HOLD,  # past max_queued: the feeder queues it later
        }
        for job in jobs
    ]
    path = spool.launch_record(first_num)
    try:
        write_atomic(path, json.dumps({"sweep": row, "jobs": batch}).encode())
    except OSError as e:
        raise SpecError(
            f"cannot write the launch record {path}: {e.strerror or e}; the batch was not queued"
        ) from None


@dataclass
class Adopted:
    """What `adopt` did with each spool dir it found."""

    sweeps: dict[str, int] = field(default_factory=dict)  # sweep id -> jobs adopted
    notes: list[str] = field(default_factory=list)


def spool_dirs(directory: Path) -> list[Path]:
    """The spool dirs `directory` names: a sweep dir's (`<dir>/.tsq/*`), or itself."""
    if (directory / ".tsq").is_dir():
        return sorted(path for path in (directory / ".tsq").iterdir() if path.is_dir())
    if directory.parent.name == ".tsq" and directory.is_dir():
        return [directory]
    raise TsqError(
        f"{directory} is neither a sweep dir (it has no .tsq inside) nor a sweep's spool dir "
        "(<sweep dir>/.tsq/<sweep id>); give the directory a sweep wrote its outputs to"
    )


def adopt(store: Store, directory: Path) -> Adopted:
    """Record in `store` the sweeps whose spool dirs `directory` holds and the store does not
    know; their jobs' states are left to the next refresh."""
    adopted = Adopted()
    for root in spool_dirs(directory):
        sweep_id = root.name
        if store.has_sweep(sweep_id):
            adopted.notes.append(f"sweep {sweep_id} is already in the store; left as it is")
            continue
        records = SpoolDir(root).launch_records()
        if not records:
            adopted.notes.append(
                f"{root} holds no launch record (written by tsq since `adopt` exists): "
                f"sweep {sweep_id} cannot be adopted"
            )
            continue
        sweep, jobs = rebuild(SpoolDir(root), [_read(path) for path in records])
        store.add_sweep(sweep, jobs)
        adopted.sweeps[sweep_id] = len(jobs)
    return adopted


def rebuild(spool: SpoolDir, records: list[dict[str, Any]]) -> tuple[Sweep, list[Job]]:
    """The rows of a sweep from its launch records and its jobs' files (pure but for listing
    the spool dir): each job queued at the latest attempt its files show."""
    row = records[0]["sweep"]
    sweep_dir = spool.root.parent.parent
    batches = [job for record in records for job in record["jobs"]]
    sweep = Sweep(
        **current_record(row),
        sweep_dir=str(sweep_dir),
        spool_dir=str(spool.root),
        njobs=len(batches),
    )
    latest = latest_attempts(spool)
    jobs = []
    for item in sorted(batches, key=lambda job: int(job["num"])):
        num = int(item["num"])
        attempt = latest.get(num, 1)
        # Launched held in the store and no file of it since: held still, unless its queue
        # lists it (a feeder queued it before the store was lost: the refresh finds it there
        # by its label and lets go of the hold, `tsq.refresh.decide`).
        held = bool(item.get("held")) and num not in latest
        jobs.append(
            Job(
                num=num,
                overrides=list(item["overrides"]),
                label=make_label(sweep.task_name, sweep.id, num, attempt),
                attempt=attempt,
                state=JobState.QUEUED,
                intent=INTENT_HOLD if held else None,
                version=0,
                host=item.get("host") or sweep.hostname,
            )
        )
    return sweep, jobs


def latest_attempts(spool: SpoolDir) -> dict[int, int]:
    """The latest attempt of each job that its files (or a retry spec) name."""
    latest: dict[int, int] = {}
    names = [p.name for p in spool.jobs.iterdir()] if spool.jobs.is_dir() else []
    names += [p.name for p in spool.retry_specs()]
    for name in names:
        found = SpoolDir.attempt_of(name)
        if found:
            num, attempt = found
            latest[num] = max(latest.get(num, 1), attempt)
    return latest


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except OSError as e:
        raise SpecError(f"cannot read the launch record {path}: {e.strerror}") from e
    except ValueError as e:
        raise SpecError(f"the launch record {path} is corrupt: {e}") from e
    if not isinstance(data, dict) or "sweep" not in data or "jobs" not in data:
        raise SpecError(f"{path} is not a tsq launch record")
    return data


def summary(store: Store, adopted: Adopted) -> list[str]:
    """One line per sweep adopted, with the states its refresh decided."""
    lines = []
    for sweep_id, count in adopted.sweeps.items():
        states = Counter(job.state.value for job in store.jobs([sweep_id]))
        shown = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        lines.append(f"sweep {sweep_id}: adopted {plural(count, 'job')} ({shown})")
    return lines
