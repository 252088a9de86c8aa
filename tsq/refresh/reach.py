"""Which jobs' queues this host can ask, and the guard of the commands that need one.

Only a host that reaches a job's queue asks it: the host that queued it, and another only when
the backend says it reaches that queue too (a Slurm cluster, never a ts server). `cancel` and
`retry` refuse jobs whose queue is out of reach, naming the host where they work.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tsq.backends import Backend, backend_for
from tsq.errors import TsqError
from tsq.hosts import this_host
from tsq.store import Job


def is_local(job: Job) -> bool:
    """Was `job` (its latest attempt) queued on this host? Its process and its files outside
    the shared sweep dir are there; its queue may be reachable from other hosts too (`Reach`)."""
    return job.queued_on == this_host()


@dataclass
class Reach:
    """Which jobs' queues this host can ask, each backend asked once (`Backend.reachable_here`):
    its own jobs' always; another host's when their queue is not tied to that host (a Slurm
    cluster this host's clients reach too: same `ClusterName`), never for ts."""

    known: dict[Backend, bool] = field(default_factory=dict)

    def backend(self, host: str, backend: Backend) -> bool:
        """Can this host ask `backend`, the queue jobs went to on `host`?"""
        if host == this_host():
            return True
        if backend not in self.known:
            self.known[backend] = backend.reachable_here()
        return self.known[backend]

    def job(self, job: Job) -> bool:
        return self.backend(job.queued_on, backend_for(job.sweep))


def refuse_elsewhere(subject: str, queues: Iterable[tuple[str, Backend]], command: str) -> None:
    """Refuse, in one line naming the host where it works, a command that needs the queue of
    jobs queued on another host (`cancel`, `retry`), given as (host, backend) pairs, when this
    host cannot reach that queue (`Reach`)."""
    reach = Reach()
    elsewhere = sorted({host for host, backend in set(queues) if not reach.backend(host, backend)})
    if elsewhere:
        where = " and ".join(elsewhere)
        raise TsqError(
            f"{subject} was queued on host {where}, whose queue this host ({this_host()}) "
            f"cannot reach: run `{command}` on {where}"
        )
