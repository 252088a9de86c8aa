"""`depends_on`: what a launch's jobs wait for, on whichever queue.

Two forms on every queue: `<queue>:ID` (`ts:12`, `slurm:4242`), a job of the launch's own
queue, and `sweep:REF`, the jobs of a sweep in the store (id, unique id prefix or sweep dir)
that have not ended. The plain forms stay for what cannot be misread: a number is a job of the
queue, anything else a sweep. Sweep ids are hex, so a number may also be the start of one: that
is refused, whatever the queue and store hold today, rather than guessed.

A queue whose jobs can wait for any number of others (`Backend.waits_for_many`: Slurm's
`--dependency=afterany`) waits for the sweep's unfinished jobs themselves, which must be in
that queue. One whose jobs wait for a single job (ts's `-D`) waits for a barrier job that ends
once the sweep has, whichever queue its jobs are in (`tsq.job.barrier`; the launcher queues it
when it records its own sweep).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tsq.backends import Backend
from tsq.errors import TsqError
from tsq.store import Store, Sweep


@dataclass(frozen=True)
class Dependency:
    """What the jobs wait for: queue ids, or a sweep that a barrier job stands for."""

    after: tuple[int, ...] = ()
    sweep: Sweep | None = None


def resolve(
    depends_on: str | None,
    backend: Backend,
    store: Store,
    find_sweep: Callable[[str], Sweep],
) -> Dependency:
    """`depends_on` checked against the queue and the store (`find_sweep` finds a sweep by
    reference, refreshed); refused in one line when it names nothing there."""
    if depends_on is None:
        return Dependency()
    own = f"{backend.name}:"
    if depends_on.startswith(own):
        return Dependency((_queue_job(depends_on, depends_on.removeprefix(own), backend),))
    if depends_on.startswith("sweep:") or not depends_on.isdigit():
        return _after_sweep(
            depends_on, find_sweep(depends_on.removeprefix("sweep:")), backend, store
        )
    sweeps = [sweep.id for sweep in store.sweeps() if sweep.id.startswith(depends_on)]
    if sweeps:
        shown = ", ".join(sweeps[:2]) + (", ..." if len(sweeps) > 2 else "")
        raise TsqError(
            f"depends_on={depends_on} is ambiguous: {backend.name} job {depends_on}, or the "
            f"start of sweep {shown}; write depends_on={own}{depends_on} or "
            f"depends_on=sweep:{depends_on}"
        )
    return Dependency((_queue_job(depends_on, depends_on, backend),))


def _queue_job(depends_on: str, ref: str, backend: Backend) -> int:
    """Job `ref` of the launch's queue, which must list it: a queue skips, or never starts, a
    job that waits for an id it does not know."""
    if not (ref.isascii() and ref.isdigit()):
        raise TsqError(
            f"depends_on={depends_on}: {ref!r} is not a {backend.name} job id (a number)"
        )
    if not backend.has_job(int(ref)):
        raise TsqError(f"depends_on={depends_on}: {backend.where} has no job {ref}")
    return int(ref)


def _after_sweep(depends_on: str, sweep: Sweep, backend: Backend, store: Store) -> Dependency:
    if not backend.waits_for_many:
        return Dependency(sweep=sweep)
    if sweep.backend != backend.name:
        raise TsqError(
            f"depends_on={depends_on}: sweep {sweep.id} was queued in {sweep.backend}, "
            f"not {backend.title}; a {backend.title} job can only wait for {backend.title} jobs"
        )
    ids = {j.queue_id for j in store.jobs([sweep.id]) if not j.state.terminal}
    return Dependency(tuple(sorted(i for i in ids if i is not None)))
