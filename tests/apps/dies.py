"""A task whose first attempts end badly, and whose next one completes: for retries by cause.

`+how=`: kill (SIGKILLs itself), raise (RuntimeError: exit 1), exit (`sys.exit(3)`), hold (waits
until the test kills it or its queue), sleep (outlives a Slurm time limit). `+fails=N` (default
1): how many attempts end so. Each attempt leaves `<flags>/<num>/<attempt>`, its way of
counting."""

import os
import signal
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    num = HydraConfig.get().job.num
    runs = Path(cfg.flags) / str(num)
    runs.mkdir(parents=True, exist_ok=True)
    attempt = len(list(runs.iterdir())) + 1
    (runs / str(attempt)).touch()
    if attempt <= int(cfg.get("fails", 1)):
        if cfg.how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if cfg.how == "raise":
            raise RuntimeError(f"attempt {attempt} fails")
        if cfg.how == "exit":
            sys.exit(3)
        while cfg.how in ("hold", "sleep"):
            time.sleep(1)
    return {"num": num, "attempt": attempt}


if __name__ == "__main__":
    main()
