"""`tsq logs`: a job's output, also after ts has forgotten the job.

The job's runner records where its output goes when it starts (`<num>.started.json` in the
sweep's spool dir): the file ts captures its stdout and stderr in, and Hydra's job log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from tsq.errors import TsqError
from tsq.spool import SpoolDir
from tsq.store import Job, Sweep

FOLLOW_POLL = 0.5


def output_files(sweep: Sweep, job: Job) -> list[tuple[str, Path]]:
    """(what, path) of the job's output files, in the order to show them."""
    started = SpoolDir(Path(sweep.spool_dir)).started(job.num, job.attempt)
    try:
        marker = json.loads(started.read_text())
    except FileNotFoundError:
        raise TsqError(
            f"job {sweep.id}:{job.num} has not started yet ({job.state}); no output so far"
        ) from None
    except (OSError, ValueError) as e:
        raise TsqError(f"cannot read {started}: {e}") from None
    files = [
        ("output (stdout and stderr)", marker.get("stdout")),
        ("Hydra job log", marker.get("log_file")),
    ]
    return [(what, Path(path)) for what, path in files if path]


def show(files: list[tuple[str, Path]], out: TextIO) -> None:
    for what, path in files:
        out.write(f"==> {what}: {path} <==\n")
        try:
            out.write(path.read_text(errors="replace"))
        except OSError as e:
            out.write(f"(cannot read it: {e.strerror})\n")
        out.flush()


def follow(path: Path, ended: Callable[[], bool], out: TextIO) -> None:
    """Print what is appended to `path` until `ended()` says the job is over, then the rest."""
    with open(path, errors="replace") as f:
        while True:
            chunk = f.read()
            if chunk:
                out.write(chunk)
                out.flush()
            elif ended():
                out.write(f.read())
                return
            else:
                time.sleep(FOLLOW_POLL)
