"""The spec `tsq retry` queues jobs with: the launch's, each job held to its first output dir.

A job's config is composed at launch, but Hydra resolves `hydra.sweep.subdir` (and `.dir`) when
the job runs (`run_job`): a subdir with a time in it, e.g. `${now:%H%M%S}_${hydra.job.num}`,
would give a retry a new dir a second later, away from the first attempt's outputs and
checkpoints. (Only the `${now:...}` patterns the launch resolved already, such as Hydra's run
dir's `%Y-%m-%d` and `%H-%M-%S` and the sweep dir's, are cached in the pickled config and stay
put; measured with a real sweep, see tests/test_retry.py.) So the
retry's spec holds, for each job, a reference to the launch's spec and the dir the job's
earlier attempt ran in; unpickled by the job's runner, it becomes the launched config with
`hydra.sweep.dir` and `hydra.sweep.subdir` set to that dir. The CLI unpickles nothing of the
app's, and the runner reads the spec as any other.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsq.files.jobspec import (
    BatchSpec,
    CodeSpec,
    JobSpec,
    OutputDir,
    ToCompose,
    pickled,
    queue_options,
    read_header,
    read_job,
    write_spec,
)

if TYPE_CHECKING:
    from omegaconf import DictConfig


def write_retry_spec(
    path: Path, launched: Path, nums: list[int], dirs: Mapping[int, OutputDir]
) -> None:
    """Write the spec of retried jobs `nums`, all launched from `launched`; a job in `dirs`
    runs in that dir, one not in it (its earlier attempts never started) where its config
    says."""
    header = read_header(launched)
    code = CodeSpec.of_header(header)
    configs = {
        num: pickled(_Config(str(launched), num, dirs.get(num)), "the job's config") for num in nums
    }
    write_spec(path, queue_options(header), _Batch(str(launched), nums[0]), configs, code)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Batch:
    """Pickles as a call that reads the launch's batch back in the job."""

    launched: str
    num: int

    def __reduce__(self) -> tuple[Any, ...]:
        return launched_batch, (self.launched, self.num)


@dataclass(frozen=True)
class _Config:
    """Pickles as a call that reads job `num`'s launched config back in the job, held to `at`."""

    launched: str
    num: int
    at: OutputDir | None

    def __reduce__(self) -> tuple[Any, ...]:
        return held_config, (self.launched, self.num, self.at)


@functools.cache
def _launched(launched: str, num: int) -> JobSpec:
    """Cached: the batch and the config of the job its reference names come from one read."""
    return read_job(Path(launched), num)


def launched_batch(launched: str, num: int) -> BatchSpec:
    """In the job: the batch as the launch wrote it."""
    return _launched(launched, num).batch


def held_config(launched: str, num: int, at: OutputDir | None) -> DictConfig | ToCompose:
    """In the job: job `num`'s config as the launch composed it, run in `at`; or, when the
    job composes its own, what says so and where it runs."""
    config = _launched(launched, num).config
    if isinstance(config, ToCompose):
        return ToCompose(at)
    return config if at is None else at.hold(config)
