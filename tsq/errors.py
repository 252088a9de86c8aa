"""Expected failures: each carries the one-line message a user sees, and the CLI's exit code."""

from __future__ import annotations


class TsqError(Exception):
    """A condition the user can fix; shown as one line, never as a traceback."""

    exit_code = 2


class BackendError(TsqError):
    """A queue (task-spooler) is missing, is the wrong program, or refused a request."""


class QueueRefused(BackendError):
    """The queue refused to queue jobs (Slurm's sbatch failed): none of them is in it."""


class StoreError(TsqError):
    """The store cannot be opened, created or migrated."""


class SweepNotFound(TsqError):
    """No sweep, or more than one, matches what the user typed."""


class SpecError(TsqError):
    """A job's spec or result file is missing, unsafe or unreadable."""
