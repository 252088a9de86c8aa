"""Where a sweep's files live: the contract between launcher, job runner and refresh.

A sweep's spool dir is `<sweep dir>/.tsq/<sweep id>/`: next to the outputs it belongs to, and
private (0700). Jobs never open the store; they leave files here that the refresh folds in.
Every name in it is made here, and the names that carry a job attempt are read back here too:

    spec-<first num>.pkl          a launch batch's spec (`tsq.files.jobspec`)
    retry-<num>[.<attempt>].pkl   a `tsq retry` batch's spec (`tsq.files.retryspec`)
    record-<first num>.json       a launch batch's record, for `tsq adopt`
    jobs/<num>[.<attempt>].*      a job attempt's files: .began, .started.json, .json, .pkl,
                                  .ending.json; a multi-task job's other ranks':
                                  .rank<r>.started.json, .rank<r>.json, .rank<r>.pkl
    leases/<token>[.<part>].lock  leases (`tsq.files.lease`)
    after-<sweep id>.json         a barrier's watch list (`depends_on=sweep:`)
    notify.json, notify.log       the notify watcher's record and output
    feed.json, feed.lock, feed.log  the feeder's plan, lock and output
    slurm/                        Slurm's output files, by default
    configs/<n>/                  the config dirs jobs compose from (`hydra/sweeper=tsq`)

Attempt 1 of job 3 is plain `3`, attempt 2 is `3.2`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tsq.files.safeio import check_dirs

LEASES = "leases"
# A job attempt's files in `jobs/`, and a retry's spec: (num, attempt) read back from the name.
_JOB_FILE = re.compile(r"^(\d+)(?:\.(\d+))?\.(?:began|started\.json|json|pkl)$")
_RETRY_SPEC = re.compile(r"^retry-(\d+)(?:\.(\d+))?\.pkl$")

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
        below = [self.root.parent, self.root, self.jobs, self.leases]
        check_dirs(self.root.parents[1], below, advice)

    @cached_property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @cached_property
    def leases(self) -> Path:
        return self.root / LEASES

    def lease(self, name: str) -> Path:
        """The lock file of lease `name` (a token, or `<token>.<part>`)."""
        return self.leases / f"{name}.lock"

    def launch_record(self, first_num: int) -> Path:
        """What the store holds of one launch batch, for `tsq adopt` (`tsq.launch.adopt`)."""
        return self.root / f"record-{first_num}.json"

    def launch_records(self) -> list[Path]:
        return sorted(self.root.glob("record-*.json"))

    def after(self, sweep_id: str) -> Path:
        """The watch list of a barrier that waits for sweep `sweep_id` (`tsq.job.barrier`)."""
        return self.root / f"after-{sweep_id}.json"

    @cached_property
    def notify_record(self) -> Path:
        """The notify watcher's record (`tsq.ops.notify`)."""
        return self.root / "notify.json"

    @cached_property
    def notify_log(self) -> Path:
        return self.root / "notify.log"

    @cached_property
    def feed_plan(self) -> Path:
        """How the feeder queues the held jobs (`tsq.ops.feed.FeedPlan`)."""
        return self.root / "feed.json"

    @cached_property
    def feed_lock(self) -> Path:
        """Held by whoever queues held jobs, so that two never overfill the queue."""
        return self.root / "feed.lock"

    @cached_property
    def feed_log(self) -> Path:
        """The feeder's output (`tsq.ops.feed`)."""
        return self.root / "feed.log"

    @cached_property
    def configs(self) -> Path:
        """The frozen copies of the launch's config dirs, which each job of a
        `hydra/sweeper=tsq` sweep composes its config from (`tsq.launch.configdirs`)."""
        return self.root / "configs"

    @cached_property
    def slurm(self) -> Path:
        """Where Slurm writes a job's output unless its options say otherwise."""
        return self.root / "slurm"

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
    def attempt_of(name: str) -> tuple[int, int] | None:
        """(num, attempt) of a job attempt's file in `jobs/`, or of a retry spec; None for any
        other name."""
        match = _JOB_FILE.match(name) or _RETRY_SPEC.match(name)
        return (int(match[1]), int(match[2] or 1)) if match else None

    def retry_specs(self) -> list[Path]:
        return list(self.root.glob("retry-*.pkl"))

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

    def ending(self, num: int, attempt: int = 1) -> Path:
        """Why a run ended that leaves no result of its own (`tsq.files.started.Ending`): it
        was requeued at its time limit, or one of its ranks failed."""
        return self.jobs / f"{self._stem(num, attempt)}.ending.json"

    def rank_started(self, num: int, attempt: int, rank: int) -> Path:
        """The `started` record of rank `rank` > 0 of a multi-task job (rank 0's is `started`)."""
        return self.jobs / f"{self._stem(num, attempt)}.rank{rank}.started.json"

    def rank_result_json(self, num: int, attempt: int, rank: int) -> Path:
        """How rank `rank` > 0 of a multi-task job ended, for rank 0 to fold into the job's
        one result (`result_json`)."""
        return self.jobs / f"{self._stem(num, attempt)}.rank{rank}.json"

    def rank_result_pickle(self, num: int, attempt: int, rank: int) -> Path:
        return self.jobs / f"{self._stem(num, attempt)}.rank{rank}.pkl"
