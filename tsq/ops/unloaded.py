"""A finished job whose result pickle cannot be loaded in the collecting process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.utils import JobReturn


@dataclass
class UnloadedJobReturn(JobReturn):
    """A completed job whose return value cannot be unpickled here (a module of the app that
    this process cannot import, a damaged file). Its status stays COMPLETED, which is what the
    job did; reading `return_value` raises the `ResultUnavailable` in `_return_value`, which
    says why, since handing back None would pass for the task's own value."""

    @property  # type: ignore[override]
    def return_value(self) -> Any:
        raise self._return_value
