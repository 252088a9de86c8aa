"""Job states, the only table of allowed transitions, the retry rule, and the changes to a job's
record that the refresh decides (`JobUpdate`, `Rerun`) and the store applies.

A job is recorded `queued`; every later write of its state goes through this table: `Store.apply`
(the refresh, the launcher's and retry's "never queued") checks `can_transition` from the state
it decided from, and `Store.settle_cancelled` (cancel) writes only over `sources_of` its target.
So a terminal state is never overwritten, whoever races whom. The one way out of a terminal
state is `tsq retry` (`Store.new_attempts`, `can_renew`; a retry by cause is the same,
`tsq.ops.retry.retry_ended`), which does not change the ended attempt: it archives it and makes
the job a new attempt. A run its queue ran again (Slurm's
requeue) is archived the same way by `Store.record_reruns`, ending through this table.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tsq.store import Job

# A live command working on a job (`Job.intent`, with its lease).
INTENT_SUBMIT = "submit"
INTENT_CANCEL = "cancel"
# A job held in the store, not queued yet: the queue holds no more of the sweep (`tsq.ops.feed`).
INTENT_HOLD = "hold"


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


@dataclass(frozen=True)
class JobUpdate:
    """A state change for one job, decided from the row as it was at `version` in state `seen`.

    Fields left None keep what the store already has; `release` clears the job's intent and
    lease (its holder is gone). Build one with `JobUpdate.of(job, state, ...)`.
    """

    job_id: int
    version: int
    seen: JobState
    state: JobState
    reason: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    output_dir: str | None = None
    queue_id: int | None = None
    server_id: str | None = None
    result_summary: str | None = None
    release: bool = False

    @classmethod
    def of(cls, job: Job, state: JobState, **fields: Any) -> JobUpdate:
        return cls(job.id, job.version, job.state, state, **fields)


@dataclass(frozen=True)
class Rerun:
    """Its queue ran a job's submission again (Slurm's requeue, preemption), `len(ended)` more
    times than the store knew: each run the store knew or missed is archived as an attempt,
    ending as decided (`ended`, oldest first), and the job's row becomes the latest run."""

    job_id: int
    version: int
    seen: JobState
    ended: tuple[JobUpdate, ...]


_UPDATE_BOOKKEEPING = ("job_id", "version", "seen", "state", "release")
# The columns an update may set besides the state.
UPDATE_FIELDS = tuple(f.name for f in fields(JobUpdate) if f.name not in _UPDATE_BOOKKEEPING)
