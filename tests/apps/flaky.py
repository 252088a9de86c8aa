"""A tiny Hydra job that fails its first attempt and completes the next: for retry tests."""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    flag = Path(cfg.flags) / str(HydraConfig.get().job.num)
    if not flag.exists():
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()
        raise RuntimeError("the first attempt fails")
    return cfg.x


if __name__ == "__main__":
    main()
