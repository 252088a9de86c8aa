"""A task returning what a float-only aggregate gets wrong: a metric that is None for seed 1,
integers above 2**53 (10**20 + seed), and the keys 1 and "1" in one mapping."""

from dataclasses import dataclass

import hydra
from hydra.core.config_store import ConfigStore


@dataclass
class Config:
    lr: float = 0.1
    seed: int = 0


ConfigStore.instance().store(name="exact", node=Config)


@hydra.main(version_base="1.3", config_path=None, config_name="exact")
def main(cfg: Config) -> dict:
    return {
        "loss": None if cfg.seed == 1 else float(cfg.seed),
        "big": 10**20 + cfg.seed,
        1: cfg.seed,
        "1": 10 * cfg.seed,
    }


if __name__ == "__main__":
    main()
