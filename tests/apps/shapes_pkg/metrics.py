"""A class of the package: results holding it are pickled by reference to `shapes_pkg`."""

from dataclasses import dataclass


@dataclass
class Metrics:
    seed: int
    loss: float
