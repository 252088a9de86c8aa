"""Where a sweep's files live: the contract between launcher, job runner and status.

A sweep's spool dir is `<sweep dir>/.tsq/<sweep id>/`: next to the outputs it belongs to, and
private (0700). Jobs never open the store; they leave files here that the status module folds in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tsq.files.lease import LEASES
from tsq.files.safeio import check_dirs

# What to do about a sweep dir another user could change (`SpoolDir.check_owner`).
OWN_DIR = "give the sweep a dir of your own (hydra.sweep.dir=...)"


@dataclass(frozen=True)
class SpoolDir:
    root: Path

    @classmethod
    def at(cls, root: str) -> SpoolDir:
        """The spool dir recorded for a sweep (`Sweep.spool`)."""
        return cls(Path(root))

    @classmethod
    def for_sweep(cls, sweep_dir: Path, sweep_id: str) -> SpoolDir:
        return cls(sweep_dir / ".tsq" / sweep_id)

    def check_owner(self, advice: str = OWN_DIR) -> None:
        """Refuse this spool dir (`NotYours`, ending with `advice`) when another user could
        change what tsq reads in it: a dir from the sweep dir down to its files that is not
        ours (`safeio.check_dirs`). Its files are checked one by one as they are read."""
        below = [self.root.parent, self.root, self.jobs, self.root / LEASES]
        check_dirs(self.root.parents[1], below, advice)

    @cached_property
    def jobs(self) -> Path:
        return self.root / "jobs"

    def spec(self, first_num: int) -> Path:
        """One spec per `launch()` batch, named by the batch's first job number."""
        return self.root / f"spec-{first_num}.pkl"

    def spec_of(self, num: int) -> Path:
        """The spec of the batch job `num` was launched in (the last batch starting at or
        before it), for `tsq retry`."""
        firsts = [
            int(path.stem.removeprefix("spec-"))
            for path in self.root.glob("spec-*.pkl")
            if path.stem.removeprefix("spec-").isdigit()
        ]
        starts = [first for first in firsts if first <= num]
        if not starts:
            raise FileNotFoundError(f"no job spec for job {num} in {self.root}")
        return self.spec(max(starts))

    def retry_spec(self, num: int, attempt: int) -> Path:
        """One spec per `tsq retry` batch (`tsq.files.retryspec`), named by its first job's new
        attempt, which only that retry made; not a `spec-*` one, which `spec_of` reads."""
        return self.root / f"retry-{self._stem(num, attempt)}.pkl"

    @staticmethod
    def _stem(num: int, attempt: int) -> str:
        """Attempt 1 (every job's first) is plain `<num>`; a retried job's are `<num>.<n>`."""
        return str(num) if attempt == 1 else f"{num}.{attempt}"

    def began(self, num: int, attempt: int = 1) -> Path:
        """Left empty by the job's own command before it starts Python, for a queue that
        forgets its jobs (task-spooler): a job without it never ran (`tsq.backends.ts`)."""
        return self.jobs / f"{self._stem(num, attempt)}.began"

    def started(self, num: int, attempt: int = 1) -> Path:
        return self.jobs / f"{self._stem(num, attempt)}.started.json"

    def result_json(self, num: int, attempt: int = 1) -> Path:
        return Path(self.result_json_in(str(self.jobs), num, attempt))

    @classmethod
    def result_json_in(cls, jobs: str, num: int, attempt: int = 1) -> str:
        """`result_json` as a plain string, given `str(self.jobs)`: a first read of a 10k-job
        sweep names 10k of these, and a `Path` each cost a quarter of that read (measured)."""
        return f"{jobs}/{cls._stem(num, attempt)}.json"

    def result_pickle(self, num: int, attempt: int = 1) -> Path:
        return self.jobs / f"{self._stem(num, attempt)}.pkl"
