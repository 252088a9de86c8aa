"""The `started` record a job's runner leaves as soon as it runs: `<num>.started.json`.

One writer (`tsq.job.runner`, first when the process starts, again once Hydra's job has its output
dir) and one reader (`read_started`, for the refresh, `cancel` and `logs`). It says the job ran
even after its queue forgot it, which process runs it, and where its output goes: the file the
queue captures its stdout and stderr in, then Hydra's job log.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from tsq.errors import SpecError
from tsq.files.safeio import read_private, write_atomic


@dataclass(frozen=True)
class Started:
    pid: int
    started_at: float
    stdout: str | None = None  # the file the queue captures the job's output in
    stderr: str | None = None  # its error output, when the queue keeps it apart (Slurm)
    output_dir: str | None = None  # Hydra's job dir, once the job has one
    log_file: str | None = None  # Hydra's job log, once the job has one
    # A multi-task (Slurm) job's task: its rank of `ranks`, on `host` (rank 0's record is the
    # job's; the others' are `SpoolDir.rank_started`).
    rank: int = 0
    ranks: int = 1
    host: str | None = None

    def write(self, path: Path) -> None:
        write_atomic(path, json.dumps(asdict(self)).encode())

    def output_files(self) -> list[tuple[str, Path]]:
        """(what, path) of the job's output files, in the order to show them: a rank's of a
        multi-task job say which rank (its Hydra job log is rank 0's, shown with rank 0's)."""
        apart = self.stderr is not None and self.stderr != self.stdout
        rank = f"rank {self.rank} " if self.ranks > 1 else ""
        files = [
            (rank + ("output (stdout)" if apart else "output (stdout and stderr)"), self.stdout),
            (rank + "error output (stderr)", self.stderr if apart else None),
            ("Hydra job log", self.log_file if self.rank == 0 else None),
        ]
        return [(what, Path(path)) for what, path in files if path]


_KNOWN = frozenset(f.name for f in fields(Started))


def read_started(path: Path) -> Started | None:
    """None while the job has not started; SpecError when the file is unreadable or damaged
    (unknown keys are ignored: a newer runner may say more), its subclass NotYours when it is
    not this user's own file (`safeio.read_private`)."""
    try:
        data = json.loads(read_private(path))
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SpecError(f"cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise SpecError(f"{path} is damaged: {e}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path} is damaged: not a JSON object")
    try:
        started = Started(**{key: value for key, value in data.items() if key in _KNOWN})
    except TypeError as e:
        raise SpecError(f"{path} is damaged: {e}") from None
    if not isinstance(started.pid, int) or not isinstance(started.started_at, (int, float)):
        raise SpecError(f"{path} is damaged: no pid or start time")
    return started
