"""Classes of the `shapes.py` app that live in a module of their own, next to it: its results
are pickled by reference to this module, and load only where it can be imported."""

from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass
class Scores:
    loss: float
    acc: float


class ScoresTuple(NamedTuple):
    loss: float
    acc: float


@dataclass
class Report:
    """A record holding another, a NaN, a numpy number and a list with an infinity."""

    loss: float
    steps: Any  # a numpy integer
    best: Scores
    curve: list[float] = field(default_factory=list)


class ModelError(Exception):
    """An exception the reader can unpickle only if it can import this module."""
