"""A task that stops gracefully on SIGTERM, as training loops that checkpoint do: it returns a
value once signalled (its result is written after `tsq cancel` sent the signal)."""

import signal
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    stopped = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.append(signum))
    Path(HydraConfig.get().runtime.output_dir, "ready").touch()
    while not stopped:
        time.sleep(0.05)
    return {"stopped_by": "SIGTERM", "step": 7}


if __name__ == "__main__":
    main()
