"""A Hydra app whose results have the shapes real ones have: NaN and numpy metrics, values of
tens of kB and of tens of MB, instances of the app's own classes, exceptions that pickle but do
not unpickle, and `sys.exit`. `+kind=...` picks one."""

import sys
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig
from shapes_models import ModelError, Scores

HUGE = 30_000_000  # characters: a 30 MB value


class TwoArgError(Exception):
    """Pickles, but unpickling calls `TwoArgError("bad input")`: a TypeError."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} {b}")


@hydra.main(version_base="1.3", config_path=None)
def main(cfg: DictConfig) -> Any:
    kind = cfg.kind
    if kind == "plain":
        return {"loss": 0.5, "acc": 0.9, "steps": 10, "best": 0.5, "peak": 1.0, "trace": [1.0]}
    if kind == "nan_metrics":
        return {
            "loss": float("nan"),
            "acc": np.float32(0.75),
            "steps": np.int64(10),
            "best": np.array(0.25),
            "peak": float("inf"),
            "trace": [np.float64(1.0), float("-inf")],
            "labels": {"a", "b"},
        }
    if kind == "huge":
        return {"loss": 0.1, "blob": "x" * HUGE}
    if kind == "large":  # whole in its summary (~25 kB), too large for the store's copy
        return {"loss": 0.1, "preds": [0.5] * 5000}
    if kind == "huge_string":
        return "y" * HUGE
    if kind == "dataclass":
        return Scores(loss=0.5, acc=0.9)
    if kind == "two_arg_error":
        raise TwoArgError("bad", "input")
    if kind == "module_error":
        raise ModelError("diverged")
    if kind == "exit0":
        sys.exit(0)
    if kind == "exit_none":
        sys.exit()
    if kind == "exit3":
        sys.exit(3)
    if kind == "exit_message":
        sys.exit("stopped early")
    raise AssertionError(f"unknown kind {kind}")


if __name__ == "__main__":
    main()
