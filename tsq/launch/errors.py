"""How a launch reports an expected problem: one line, as Hydra prints a compact exception."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hydra.errors import CompactHydraException

from tsq.errors import TsqError


class TsqLaunchError(CompactHydraException):
    """Hydra prints these as one line, without a traceback."""


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except TsqError as e:
        raise TsqLaunchError(f"tsq: {e}") from None
