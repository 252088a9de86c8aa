"""A Hydra app whose results have the shapes real ones have: NaN and numpy metrics, values of
tens of kB and of tens of MB, instances of the app's own classes, records of metrics (a
dataclass, a NamedTuple, an attrs class, a pydantic model), exceptions that pickle but do not
unpickle, and `sys.exit`. `+kind=...` picks one."""

import sys
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig
from shapes_models import ModelError, Report, Scores, ScoresTuple

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
    if kind == "namedtuple":
        return ScoresTuple(loss=0.25, acc=0.8)
    if kind == "attrs":
        from shapes_attrs import AttrsScores  # attrs may not be installed: only when asked

        return AttrsScores(loss=0.75, acc=0.7)
    if kind == "pydantic":
        from shapes_pydantic import PydanticScores

        return PydanticScores(loss=1.0, acc=0.6)
    if kind == "report":
        best = Scores(loss=0.5, acc=0.9)
        return Report(float("nan"), np.int64(3), best, [1.0, float("inf")])
    if kind == "text":
        return "converged"
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
