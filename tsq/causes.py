"""Why an ended attempt ended, in the words of `hydra.launcher.retry` and `tsq retry --cause`,
read from what the store records for every attempt (its state, reason and signal): no column
of its own, so attempts recorded before retries by cause existed are judged alike.

Pure: the automatic retries (`tsq.ops.retry.retry_ended`), `tsq retry --cause` and `status`
all ask these functions, so what is retried and what is shown never disagree.
"""

from __future__ import annotations

from typing import Protocol

from tsq.options import RetryCause, RetryPolicy
from tsq.states import JobState

# The Slurm states that mean each cause. Every reason tsq records for a Slurm job that ended in
# one of them names the state in parentheses: "hit its time limit (TIMEOUT) before it wrote a
# result" (`tsq.backends.slurmlist.STATE_MEANINGS`, through `tsq.refresh.decide`).
_SLURM_STATES: dict[RetryCause, tuple[str, ...]] = {
    RetryCause.timeout: ("TIMEOUT", "DEADLINE"),
    RetryCause.preempted: ("PREEMPTED",),
    RetryCause.node_failure: ("NODE_FAIL", "BOOT_FAIL"),
}


class Ended(Protocol):
    """What is read of an attempt (a `Job`'s latest, or an archived `Attempt`)."""

    state: JobState
    reason: str | None
    signal: int | None
    exit_code: int | None


def end_cause(run: Ended) -> RetryCause | None:
    """The cause an ended attempt ended for; None when it completed, was cancelled, or failed
    of its own doing (its task raised or exited: see `retry_reason` for exit codes)."""
    if run.state is JobState.LOST:
        return RetryCause.lost
    if run.state is not JobState.FAILED:
        return None
    for cause, states in _SLURM_STATES.items():
        if any(f"({state})" in (run.reason or "") for state in states):
            return cause
    return RetryCause.signal if run.signal is not None else None


def retry_reason(run: Ended, policy: RetryPolicy) -> str | None:
    """Why `policy` has the ended attempt retried ("lost", "exit code 3"), None if it does not.
    An exit code counts only for an attempt that failed with no other cause (its task raised:
    1, or exited with it), never a cancelled one."""
    cause = end_cause(run)
    if cause is not None:
        return cause.value if cause in policy.causes else None
    if run.state is JobState.FAILED and run.signal is None and run.exit_code in policy.exit_codes:
        return f"exit code {run.exit_code}"
    return None
