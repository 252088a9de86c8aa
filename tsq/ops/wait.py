"""Waiting for jobs to end: the blocking launcher mode and `tsq wait`.

Waiting is polling the same refresh `status` runs, restricted to one sweep: one `ts -l` plus a
stat of each active job's files per round. Rounds start 0.1 s apart, so short jobs come back
quickly, and back off to 2 s while nothing changes, so a sweep of long jobs costs the waiting
process next to no CPU.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO

from tsq.errors import TsqError
from tsq.refresh.update import refresh, unchecked_note
from tsq.render.views import counts
from tsq.store import Job, Store

FIRST_DELAY = 0.1
MAX_DELAY = 2.0
BACKOFF = 1.5


def next_delay(delay: float, changed: bool) -> float:
    """The pause before the next round: short again after a change, longer while none comes."""
    return FIRST_DELAY if changed else min(delay * BACKOFF, MAX_DELAY)


class Progress:
    """Counts by state on stderr: a bar redrawn in place on a terminal, a line per change
    otherwise (logs stay readable)."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.width = width
        self.last = ""

    def show(self, jobs: Sequence[Job]) -> None:
        text = counts(jobs)
        if text == self.last:
            return
        self.last = text
        if self.tty:
            done = sum(1 for job in jobs if job.state.terminal)
            filled = self.width * done // max(len(jobs), 1)
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r\x1b[K{self.label} [{bar}] {done}/{len(jobs)}  {text}")
        else:
            self.stream.write(f"{self.label}: {text}\n")
        self.stream.flush()

    def say(self, message: str) -> None:
        if self.tty and self.last:
            self.stream.write("\n")  # end the bar's line before the message
        self.stream.write(f"{message}\n")
        self.last = ""
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()


class WaitTimedOut(TsqError):
    """`tsq wait --timeout` ran out; its own exit status, so scripts can tell it from failure."""

    exit_code = 3


class SweepForgotten(TsqError):
    """The sweep's records were dropped while someone followed it."""


def wait_for_jobs(
    store: Store,
    sweep_id: str,
    nums: Sequence[int],
    progress: Progress,
    timeout: float | None = None,
) -> list[Job]:
    """Block until the given jobs of a sweep are terminal; returns them in `nums` order."""
    deadline = None if timeout is None else time.monotonic() + timeout
    wanted = set(nums)
    delay = FIRST_DELAY
    warned: set[str] = set()
    said_unchecked = False
    try:
        while True:
            report = refresh(store, sweep_id)
            for warning in report.warnings:
                if warning not in warned:
                    warned.add(warning)
                    progress.say(f"tsq: {warning}")
            if report.unchecked and not said_unchecked:  # once: its counts change as jobs end
                said_unchecked = True
                progress.say(f"tsq: {unchecked_note(report.unchecked)}")
            jobs = {job.num: job for job in store.jobs([sweep_id]) if job.num in wanted}
            if len(jobs) < len(wanted):
                raise SweepForgotten(
                    f"sweep {sweep_id} was forgotten (`tsq forget --cancel`) while waiting "
                    "for it: its jobs were cancelled, and the store no longer holds them"
                )
            ordered = [jobs[num] for num in nums]
            progress.show(ordered)
            if all(job.state.terminal for job in ordered):
                return ordered
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimedOut(
                    f"sweep {sweep_id} not finished after {timeout:g} s ({counts(ordered)})"
                )
            delay = next_delay(delay, bool(report.changed))
            if deadline is not None:
                delay = max(0.0, min(delay, deadline - time.monotonic()))
            time.sleep(delay)
    finally:
        progress.close()
