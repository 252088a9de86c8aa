"""A task returning metrics over seeds: loss = 10 * lr + seed (exact for lr 0.1, 0.2, 0.3),
acc = 1 - loss / 10, a string `note`; NaN loss for `nan_seed`, a failure for `fail_seed`."""

import math
import time
from dataclasses import dataclass

import hydra
from hydra.core.config_store import ConfigStore


@dataclass
class Config:
    lr: float = 0.1
    model: str = "small"
    seed: int = 0
    nan_seed: int = -1
    fail_seed: int = -1
    sleep: float = 0.0


ConfigStore.instance().store(name="metrics", node=Config)


@hydra.main(version_base="1.3", config_path=None, config_name="metrics")
def main(cfg: Config) -> dict:
    if cfg.sleep:
        time.sleep(cfg.sleep)
    if cfg.seed == cfg.fail_seed:
        raise RuntimeError(f"seed {cfg.seed} diverged on purpose")
    loss = 10 * cfg.lr + cfg.seed + (1 if cfg.model == "large" else 0)
    if cfg.seed == cfg.nan_seed:
        loss = math.nan
    return {"loss": loss, "acc": 1 - loss / 10, "note": f"{cfg.model}-{cfg.seed}"}


if __name__ == "__main__":
    main()
