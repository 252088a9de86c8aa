"""`hydra/sweeper=tsq`: the basic sweeper's grid, queued without composing every job.

Hydra's BasicSweeper composes every job of a batch in the launching process before it calls
the launcher (`validate_batch_is_legal`, ~0.1 s a job: a 10,000-job grid waits ~15 minutes
for its prompt, with every override list in memory). This sweeper takes the same arguments
and options (grid and range sweeps, `hydra.sweeper.params`, `max_batch_size`), numbers and
orders the jobs as the basic sweeper does, and hands the launcher batches whose override
lists are computed as they are read (`tsq.launch.grid`). It composes only a few jobs at
launch (`compose_at_launch`: the first, then jobs taking between them every swept value), so a
bad override or config fails before anything is queued; with tsq's launchers each job then
composes its own config when it starts, from what the launch froze (`tsq.job.compose`). With
any other launcher, that launcher composes each job as it always does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from tsq.errors import TsqError
from tsq.launch.grid import Grid, grid_of
from tsq.options import SweepOptions
from tsq.render.words import plural

log = logging.getLogger(__name__)

# The plugin's config target (`hydra_plugins.hydra_ts_launcher.tsq_sweeper`), which tells tsq's
# launchers that the jobs compose their own configs.
TSQ_SWEEPER = "hydra_plugins.hydra_ts_launcher.tsq_sweeper.TsqSweeper"


def expand(options: SweepOptions, arguments: list[str], config_loader: Any) -> Grid:
    """The sweep's grid: `params` first, then the command line's overrides, as the basic
    sweeper reads them (its parser, given the loader for `glob()` sweeps)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = [f"{key}={value}" for key, value in (options.params or {}).items()] + list(arguments)
    parser = OverridesParser.create(config_loader=config_loader)
    return grid_of(parser.parse_overrides(lines))


def check(grid: Grid, count: int, config: Any, config_loader: Any) -> int:
    """Compose up to `count` jobs (at least the first) in the launching process, as the basic
    sweeper composes every job, so a bad override or config stops the launch before anything
    is queued; Hydra's own error then says what is wrong. Returns how many were composed."""
    nums = grid.diagonal(max(count, 1))
    for num in nums:
        overrides = grid[num]
        try:
            config_loader.load_sweep_config(master_config=config, sweep_overrides=overrides)
        except Exception as e:
            shown = " ".join(overrides) or "no overrides"
            raise TsqError(
                f"job {num} of the sweep ({shown}) does not compose, so nothing was queued: "
                f"{str(e).strip() or e.__cause__ or type(e).__name__}"
            ) from e
    return len(nums)


def sweep(
    options: SweepOptions,
    arguments: list[str],
    config: Any,
    hydra_context: Any,
    launcher: Any,
) -> list[Sequence[Any]]:
    """What `BasicSweeper.sweep` does, without composing every job first."""
    grid = expand(options, arguments, hydra_context.config_loader)
    batches = list(grid.batches(options.max_batch_size))
    tic = time.perf_counter()
    composed = check(grid, options.compose_at_launch, config, hydra_context.config_loader)
    log.debug(
        f"tsq: composed {plural(composed, 'job')} of {len(grid)} at launch to check the sweep "
        f"({time.perf_counter() - tic:.2f} s)"
    )
    # As the basic sweeper: the sweep's config, in its dir.
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / "multirun.yaml")
    returns: list[Sequence[Any]] = []
    for batch in batches:
        results = launcher.launch(batch, initial_job_idx=batch.nums.start)
        for result in results:
            _ = result.return_value  # a failed job raises, as with the basic sweeper
        returns.append(results)
    return returns
