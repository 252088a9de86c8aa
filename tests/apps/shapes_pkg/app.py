"""`python -m shapes_pkg.app -m +seed=1,2 hydra/launcher=ts`: returns the package's own class."""

import hydra
from omegaconf import DictConfig

from shapes_pkg.metrics import Metrics


@hydra.main(version_base="1.3", config_path=None)
def main(cfg: DictConfig) -> Metrics:
    return Metrics(seed=cfg.seed, loss=1.0 / cfg.seed)


if __name__ == "__main__":
    main()
