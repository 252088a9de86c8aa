"""The smallest Hydra job: for tests that need many of them."""

import hydra


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    return cfg.x


if __name__ == "__main__":
    main()
