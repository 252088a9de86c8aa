"""A task that holds a lock in its globals: it cannot be pickled, so it cannot be queued."""

import threading

import hydra

LOCK = threading.Lock()


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    with LOCK:
        return 1


if __name__ == "__main__":
    main()
