"""Store rows made by hand, for the tests that fill a store without launching anything."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from tsq.hosts import this_host
from tsq.store import Job, Sweep


def make_sweep(
    sweep_id: str,
    *,
    sweep_dir: str | Path = "/nowhere",
    created_at: float = 1000.0,
    njobs: int = 0,
    binary: str = "/usr/bin/tsp",
    socket: str = "/tmp/socket",
    variant: str | None = None,
    here: bool = False,
) -> Sweep:
    """A ts sweep's row. `here`: launched by this process on this host, so a refresh asks its
    queue (the ts server on `socket`); otherwise of host "host", whose queue this host never
    asks."""
    root = Path(sweep_dir).parent.parent if here else Path("/work")
    return Sweep(
        id=sweep_id,
        created_at=created_at,
        task_name="train",
        app=str(root / "train.py") if here else "train.py",
        cwd=str(root),
        sweep_dir=str(sweep_dir),
        spool_dir=f"{sweep_dir}/.tsq/{sweep_id}" if here else f"{sweep_dir}/.tsq",
        backend_record={"binary": binary, "socket": socket},
        backend_variant=variant,
        launcher_pid=os.getpid() if here else 4242,
        hostname=this_host() if here else "host",
        njobs=njobs,
    )


def local_sweep(
    sweep_id: str,
    root: Path,
    socket: str,
    *,
    created_at: float,
    njobs: int,
    binary: str | None = None,
    variant: str = "task-spooler",
) -> Sweep:
    """A sweep of this host in `root`'s multirun dir, queued in the ts server on `socket`."""
    sweep_dir = root / "multirun" / sweep_id
    sweep_dir.mkdir(parents=True)
    return make_sweep(
        sweep_id, sweep_dir=sweep_dir, created_at=created_at, njobs=njobs,
        binary=binary or shutil.which("tsp") or "tsp", socket=socket, variant=variant, here=True,
    )  # fmt: skip


def make_jobs(sweep_id: str, n: int) -> list[Job]:
    """`n` queued jobs with two overrides each."""
    return [
        Job(num=i, overrides=[f"lr={i}", "model=a b"], label=f"{sweep_id}-{i}") for i in range(n)
    ]


def job(num: int, state: str, *overrides: str, **fields: Any) -> Job:
    """One job row in `state`, with any other column given."""
    fields.setdefault("label", f"train/{num}")
    return Job(num=num, overrides=list(overrides), state=state, updated_at=time.time(), **fields)
