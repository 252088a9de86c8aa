"""Why an attempt ended (`tsq.causes`), read from the record the refresh writes: every Slurm
ending a one-node test cluster cannot produce (a node failure, a preemption, a deadline) goes
through the same parser rows and the same policy as a real one, and comes out as its cause."""

from __future__ import annotations

import pytest

from tsq.backends.slurm import queue_row
from tsq.backends.slurmlist import ExitStatus, SlurmState, judge
from tsq.causes import end_cause, retry_reason
from tsq.options import RetryCause, RetryPolicy
from tsq.refresh.decide import Observation, QueueFacts, decide
from tsq.states import JobState
from tsq.store import Job

SLURM = QueueFacts("Slurm", "Slurm", "the Slurm cluster", "its accounting forgot it")


def _ended(state: SlurmState, exit_status: ExitStatus) -> Job:
    """A running job's record once the refresh saw its array task end so in Slurm."""
    job = Job(id=1, num=0, attempt=1, version=1, overrides=[], label="app/s/0", queue_id=7,
              server_id="0", state=JobState.RUNNING)  # fmt: skip
    row = queue_row(7, 0, "app/s/0", judge(state, exit_status), state, 0,
                    exit_status.code, exit_status.signal or None)  # fmt: skip
    update = decide(job, Observation(queue=SLURM, row=row))
    assert update is not None
    for name in ("state", "reason", "exit_code", "signal"):
        setattr(job, name, getattr(update, name))
    return job


@pytest.mark.parametrize(
    ("state", "exit_status", "cause"),
    [
        (SlurmState.TIMEOUT, ExitStatus(0, 15), RetryCause.timeout),
        (SlurmState.DEADLINE, ExitStatus(0, 0), RetryCause.timeout),
        (SlurmState.PREEMPTED, ExitStatus(0, 15), RetryCause.preempted),
        (SlurmState.NODE_FAIL, ExitStatus(0, 0), RetryCause.node_failure),
        (SlurmState.BOOT_FAIL, ExitStatus(0, 0), RetryCause.node_failure),
        (SlurmState.FAILED, ExitStatus(0, 9), RetryCause.signal),
        (SlurmState.FAILED, ExitStatus(3, 0), None),  # its own exit code
        (SlurmState.OUT_OF_MEMORY, ExitStatus(0, 9), RetryCause.signal),
        (SlurmState.CANCELLED, ExitStatus(0, 15), None),
    ],
)
def test_each_slurm_ending_has_its_cause(
    state: SlurmState, exit_status: ExitStatus, cause: RetryCause | None
) -> None:
    assert end_cause(_ended(state, exit_status)) is cause


def test_a_policy_retries_its_causes_and_exit_codes_only() -> None:
    timeout = _ended(SlurmState.TIMEOUT, ExitStatus(0, 15))
    exit3 = _ended(SlurmState.FAILED, ExitStatus(3, 0))
    cancelled = _ended(SlurmState.CANCELLED, ExitStatus(0, 15))
    policy = RetryPolicy(causes=["timeout"], exit_codes=[3])  # type: ignore[list-item]
    assert retry_reason(timeout, policy) == "timeout"
    assert retry_reason(exit3, policy) == "exit code 3"
    assert retry_reason(cancelled, policy) is None
    assert retry_reason(timeout, RetryPolicy(causes=[RetryCause.signal], exit_codes=[0])) is None
    assert not RetryPolicy().asked and not RetryPolicy(causes=["lost"], max=0).asked  # type: ignore[list-item]
