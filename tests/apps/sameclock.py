"""A Hydra app whose clock stands still at `$FROZEN_NOW` (ISO format), so that two launches of
it fall in the same second of Hydra's default sweep dir, as a script's back-to-back launches
often do, whatever the machine's speed. Each job returns the sweep dir and output dir it ran
with, as Hydra gave them to it."""

import os
from datetime import datetime
from typing import Any

import hydra
import hydra.core.utils
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


class FrozenClock(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> "FrozenClock":
        return cls.fromisoformat(os.environ["FROZEN_NOW"])


hydra.core.utils.datetime = FrozenClock  # what Hydra's `now` resolver reads the time from


@hydra.main(version_base="1.3", config_path=None)
def main(cfg: DictConfig) -> Any:
    hydra_cfg = HydraConfig.get()
    return {
        "x": cfg.x,
        "sweep_dir": hydra_cfg.sweep.dir,
        "output_dir": hydra_cfg.runtime.output_dir,
    }


if __name__ == "__main__":
    main()
