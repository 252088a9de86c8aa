"""A task that dies of a segfault before it can return."""

import ctypes

import hydra


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    ctypes.string_at(0)


if __name__ == "__main__":
    main()
