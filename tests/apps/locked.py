"""A task made in a function, holding a lock in its closure: the job cannot find it by name,
and a lock cannot be pickled, so it cannot be queued. (A lock in the script's globals is fine:
the job runs the script, so the task is found there by name, with its globals.)"""

import threading

import hydra


def make_task():
    lock = threading.Lock()

    @hydra.main(version_base="1.3", config_path=None)
    def main(cfg):
        with lock:
            return 1

    return main


main = make_task()

if __name__ == "__main__":
    main()
