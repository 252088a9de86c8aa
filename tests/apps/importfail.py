"""A task whose module imports `fragile`: the launch imports it fine; a job given
TSQ_TEST_BREAK_IMPORT=1 (`+hydra.launcher.env.TSQ_TEST_BREAK_IMPORT=1`) fails before its task
starts, while the job unpickles the task and imports what it refers to."""

import fragile
import hydra


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    return fragile.VALUE


if __name__ == "__main__":
    main()
