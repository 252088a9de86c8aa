"""Waiting for something to happen, the one way tests do it: poll a real condition, never a
fixed sleep, and fail saying what was awaited and what was seen last."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

SHOWN = 2000  # characters of the last value a timeout shows


def eventually(
    probe: Callable[[], T],
    what: str,
    *,
    until: Callable[[T], Any] = bool,
    timeout: float = 60,
    interval: float = 0.05,
    max_interval: float | None = None,
) -> T:
    """Call `probe` until `until(value)` holds (by default: until it returns something truthy)
    and return that value. After `timeout` seconds, fail with "timed out after N s waiting for
    WHAT; last seen: VALUE". The pause between calls starts at `interval` and, with
    `max_interval`, grows by half each time up to it (a probe that costs CPU, a refresh or a
    Slurm client, leaves the jobs it waits for the machine's two cores)."""
    deadline = time.monotonic() + timeout
    pause = interval
    while True:
        value = probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            seen = repr(value)
            if len(seen) > SHOWN:
                seen = f"{seen[:SHOWN]}... ({len(seen)} characters)"
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what}; last seen: {seen}"
            )
        time.sleep(pause)
        if max_interval is not None:
            pause = min(pause * 1.5, max_interval)
