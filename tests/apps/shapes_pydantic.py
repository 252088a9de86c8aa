"""A pydantic model of metrics, apart so that `shapes.py` imports pydantic only when a job
returns it."""

import pydantic


class PydanticScores(pydantic.BaseModel):
    loss: float
    acc: float
