"""Job states, the only table of allowed transitions, and the retry rule.

A job is recorded `queued`; every later write of its state goes through this table: `Store.apply`
(the refresh, the launcher's and retry's "never queued") checks `can_transition` from the state
it decided from, and `Store.settle_cancelled` (cancel) writes only over `sources_of` its target.
So a terminal state is never overwritten, whoever races whom. The one way out of a terminal
state is `tsq retry` (`Store.new_attempts`, `can_renew`), which does not change the ended
attempt: it archives it and makes the job a new attempt. A run its queue ran again (Slurm's
requeue) is archived the same way by `Store.record_reruns`, ending through this table.
"""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"

    def __str__(self) -> str:
        return self.value

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL: frozenset[JobState] = frozenset(
    {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.LOST}
)
ACTIVE: frozenset[JobState] = frozenset({JobState.QUEUED, JobState.RUNNING})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset(
        {JobState.RUNNING, JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.LOST}
    ),
    # RUNNING -> QUEUED: a queue that runs the job again (Slurm's requeue, preemption).
    JobState.RUNNING: frozenset(
        {JobState.QUEUED, JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.LOST}
    ),
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.LOST: frozenset(),
}


def can_transition(old: JobState, new: JobState) -> bool:
    """Staying put is always allowed (a refresh may re-confirm a state); else it must be listed."""
    return old == new or new in TRANSITIONS[old]


def can_renew(state: JobState) -> bool:
    """Whether a job in `state` may be queued again as a new attempt: only once it has ended."""
    return state.terminal


def sources_of(new: JobState) -> frozenset[JobState]:
    """The states a job may be in for an update to `new` to apply (used in guarded UPDATEs)."""
    return frozenset(s for s, targets in TRANSITIONS.items() if new in targets or s == new)
