"""An attrs class of metrics, apart so that `shapes.py` imports attrs only when a job returns it."""

import attrs


@attrs.define
class AttrsScores:
    loss: float
    acc: float
