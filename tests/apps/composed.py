"""A Hydra app whose config takes every path composing has: config groups (in the app's
config dir and in a `hydra.searchpath` dir the tests make outside the project), interpolations,
`${now:}`, a resolver and a ConfigStore node registered by the script. `hydra/sweeper=tsq` jobs
compose it themselves; tests/test_sweeper.py compares their configs with the basic sweeper's."""

from dataclasses import dataclass, field
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

OmegaConf.register_new_resolver("triple", lambda v: 3 * int(v))


@dataclass
class Adam:
    lr: float = 0.001
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])


ConfigStore.instance().store(group="optim", name="adam", node=Adam)


@hydra.main(version_base="1.3", config_path="composed_conf", config_name="config")
def main(cfg: DictConfig) -> Any:
    return {"num": HydraConfig.get().job.num, "cfg": OmegaConf.to_container(cfg, resolve=True)}


if __name__ == "__main__":
    main()
