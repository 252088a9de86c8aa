"""Where a sweep's files live: the contract between launcher, job runner and status.

A sweep's spool dir is `<sweep dir>/.tsq/<sweep id>/`: next to the outputs it belongs to, and
private (0700). Jobs never open the store; they leave files here that the status module folds in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SpoolDir:
    root: Path

    @classmethod
    def for_sweep(cls, sweep_dir: Path, sweep_id: str) -> SpoolDir:
        return cls(sweep_dir / ".tsq" / sweep_id)

    @property
    def config_snapshot(self) -> Path:
        return self.root / "config"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    def spec(self, first_num: int) -> Path:
        """One spec per `launch()` batch, named by the batch's first job number."""
        return self.root / f"spec-{first_num}.pkl"

    def started(self, num: int) -> Path:
        return self.jobs / f"{num}.started.json"

    def result_json(self, num: int) -> Path:
        return self.jobs / f"{num}.json"

    def result_pickle(self, num: int) -> Path:
        return self.jobs / f"{num}.pkl"
