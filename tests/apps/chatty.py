"""A task that prints more than a pipe holds (`lines=N`), for readers that stop early."""

import hydra


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    for i in range(cfg.lines):
        print(f"line {i} of the chatty task's output")


if __name__ == "__main__":
    main()
