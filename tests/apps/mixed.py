"""A task whose ending is chosen by `+mode=`: ok, raise, exit7 (`os._exit(7)`), or sleep (to be
killed or cancelled while it runs)."""

import os
import time

import hydra


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    if cfg.mode == "raise":
        raise ValueError("the task raised")
    if cfg.mode == "exit7":
        os._exit(7)
    if cfg.mode == "sleep":
        time.sleep(120)
    return cfg.mode


if __name__ == "__main__":
    main()
