"""`hydra.launcher.dry_run=true`: the jobs a sweep would queue, printed; nothing is queued or
recorded.

Hydra's users ask to see a sweep's jobs before they are submitted (hydra #2759): a typo in a
range, a forgotten override or a grid ten times larger than meant shows there, not in a queue
of a thousand jobs. The dry run makes the refusals a real launch makes before anything is
queued (the sweeper, the queue's resources), then prints each batch's job numbers and
overrides, and once the first job's composed config (the app's part: `hydra` left out). It
claims no sweep dir, takes no snapshot, opens no store and queues nothing: only Hydra's own
sweeper has written the sweep dir's `multirun.yaml`, as it does before any launcher runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from omegaconf import OmegaConf, open_dict

from tsq.errors import TsqError
from tsq.launch.launcher import BASIC_SWEEPER, PendingJobReturn, check_reuse, find_app, sweeper_of
from tsq.launch.submit import open_queue
from tsq.launch.sweeper import TSQ_SWEEPER
from tsq.options import CommonOptions
from tsq.render.words import plural

log = logging.getLogger(__name__)


class DryRun:
    """Stands in for `tsq.launch.launcher.SweepLauncher` when `dry_run` is set."""

    def __init__(
        self, options: CommonOptions, *, config: Any, hydra_context: Any, task_function: Any
    ) -> None:
        sweeper = sweeper_of(config)
        if sweeper not in (BASIC_SWEEPER, TSQ_SWEEPER):
            raise TsqError(
                f"dry_run=true lists the jobs of Hydra's basic sweeper and of hydra/sweeper=tsq; "
                f"{sweeper} proposes its "
                "jobs from the results of earlier ones, which a dry run does not have"
            )
        self.backend, _ = open_queue(options)
        check_reuse(options, find_app(task_function), sweeper)
        self.config = config
        self.reuse = options.reuse
        self.loader = hydra_context.config_loader
        self.shown = False

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> list[JobReturn]:
        task = str(self.config.hydra.job.name)
        lines = [
            f"tsq: dry run: {plural(len(job_overrides), 'job')} of {task} would be queued in "
            f"{self.backend.title}; nothing was queued or recorded"
        ]
        if self.reuse:
            lines.append(
                "\treuse=true: of these, those that completed before with the same config and "
                "code would be reused, not queued (a dry run opens no store to tell which)"
            )
        width = len(str(initial_job_idx + len(job_overrides) - 1))
        for num, overrides in enumerate(job_overrides, initial_job_idx):
            lines.append(f"\t{num:>{width}}  {' '.join(overrides) or '(no overrides)'}")
        if not self.shown and job_overrides:
            self.shown = True
            composed = self.loader.load_sweep_config(
                master_config=self.config, sweep_overrides=list(job_overrides[0])
            )
            with open_dict(composed):
                del composed["hydra"]
            text = OmegaConf.to_yaml(composed, resolve=False).rstrip() or "{}"
            lines.append(f"\tjob {initial_job_idx}'s config:")
            lines += [f"\t  {line}" for line in text.splitlines()]
        log.info("\n".join(lines))
        return [
            PendingJobReturn(overrides=list(overrides), task_name=task)
            for overrides in job_overrides
        ]
