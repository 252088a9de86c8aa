"""A Hydra app for tsq's tests: exercises what a job must get from its launcher.

Everything here lives in `__main__` on purpose (task function, structured config, resolver,
callback): the ts launcher must carry them to another interpreter.
"""

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

OmegaConf.register_new_resolver("double", lambda v: 2 * int(v))


@dataclass
class Optimizer:
    name: str = "sgd"
    momentum: float = 0.9


ConfigStore.instance().store(group="optim", name="sgd", node=Optimizer)


class Markers(Callback):
    """Leaves a file per callback so tests can see which ran, and where."""

    def __init__(self, marker_dir: str) -> None:
        self.dir = Path(marker_dir)

    def _mark(self, name: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / name).write_text(str(os.getpid()))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._mark("multirun_end")

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._mark(f"job_start_{config.hydra.job.num}")

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        self._mark(f"job_end_{config.hydra.job.num}_{job_return.status.name}")


class Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("this object refuses to be pickled")

    def __repr__(self) -> str:
        return "<Unpicklable>"


class UnpicklableError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.handle = Unpicklable()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> Any:
    hc = HydraConfig.get()
    log.info("job %s running with x=%s", hc.job.num, cfg.x)
    if cfg.sleep:
        time.sleep(cfg.sleep)
    if cfg.get("hold"):  # `+hold=DIR`: the job waits until the test creates DIR/<its number>
        gate = Path(cfg.hold) / str(hc.job.num)
        while not gate.exists():
            time.sleep(0.05)
    if cfg.fail == "unpicklable_value":
        return Unpicklable()
    if cfg.fail == "unpicklable_error":
        raise UnpicklableError("boom with a handle")
    if cfg.fail == "exit":
        os._exit(3)
    if cfg.fail == "once":
        flag = Path(cfg.marker_dir) / f"failed_once_{hc.job.num}"
        if not flag.exists():
            flag.parent.mkdir(parents=True, exist_ok=True)
            flag.touch()
            raise RuntimeError("the first attempt fails")
    elif cfg.fail:
        raise ValueError(f"asked to fail with x={cfg.x}")
    return {
        "x": cfg.x,
        "message": cfg.message,
        "double_x": cfg.double_x,
        "db": cfg.db.driver,
        "optim": OmegaConf.to_container(cfg.optim) if "optim" in cfg else None,
        "num": hc.job.num,
        "id": hc.job.id,
        "output_dir": hc.runtime.output_dir,
        "cwd": os.getcwd(),
        "task_name": hc.job.name,
        "env": os.environ.get("TSQ_TEST_ENV"),
        "heavy_imports": sorted(m for m in ("sqlalchemy", "alembic") if m in sys.modules),
    }


if __name__ == "__main__":
    main()
