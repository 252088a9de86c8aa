"""Classes of the `shapes.py` app that live in a module of their own, next to it: its results
are pickled by reference to this module, and load only where it can be imported."""

from dataclasses import dataclass


@dataclass
class Scores:
    loss: float
    acc: float


class ModelError(Exception):
    """An exception the reader can unpickle only if it can import this module."""
