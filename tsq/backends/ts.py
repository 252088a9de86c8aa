"""task-spooler as a queue backend: Debian's `tsp`, upstream's `ts` and the GPU fork.

`tsclient` runs the binary, `tslist` parses what it prints; this module turns both into the
`Backend` and `Queue` of `tsq.backends`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsq.backends import JobRef, Queued, QueueRow, RowState, Stopped
from tsq.backends.tsclient import FORK, Spooler, server_id
from tsq.backends.tslist import TsJob, exit_code_from_elevel, job_output
from tsq.errors import BackendError
from tsq.files.commands import runner_argv
from tsq.files.labels import match
from tsq.files.safeio import make_private_dir
from tsq.files.spool import SpoolDir

if TYPE_CHECKING:
    from tsq.backends.queueing import QueueOptions

_STATES = {
    "queued": RowState.QUEUED,
    "allocating": RowState.QUEUED,  # the GPU fork, waiting for free GPUs
    "running": RowState.RUNNING,
    "finished": RowState.ENDED,
    "skipped": RowState.SKIPPED,
}
SKIPPED_REASON = "skipped by ts (a job it depended on failed)"


def queue_row(job: TsJob) -> QueueRow:
    """A `ts -l` (or the fork's `-M tab`) row as the refresh sees it. The E-Level of both
    variants is a signed char, and -1 may be exit 255, any signal or an exec failure: such a row
    is `ambiguous` until `ts -i` says."""
    state = _STATES[job.state]
    ended = state is RowState.ENDED
    known = ended and job.elevel not in (None, -1)
    return QueueRow(
        queue_id=job.id,
        label=job.label,
        state=state,
        exit_code=exit_code_from_elevel(job.elevel) if known and job.elevel is not None else None,
        run_time=job.real_time,
        ambiguous=ended and not known,
        reason=SKIPPED_REASON if state is RowState.SKIPPED else None,
    )


@dataclass(frozen=True)
class TsQueue:
    """One listing of one server, with what identifies the server."""

    client: Spooler
    alive: bool
    rows: Mapping[int, QueueRow]
    server_id: str | None = None
    complete: bool = True  # every row it printed was read (`tsclient.Listing`)
    name: str = "ts"
    title: str = "task-spooler"
    forgetting: str = "its server restarted or pruned its finished list"

    @property
    def where(self) -> str:
        return TsBackend(self.client.binary, self.client.socket).where

    @cached_property
    def by_label(self) -> dict[str, QueueRow]:
        return {row.label: row for row in self.rows.values() if row.label is not None}

    def find(self, job: JobRef) -> QueueRow | None:
        return match(job.label, job.queue_id, self.rows, self.by_label)

    def explain(self, row: QueueRow) -> QueueRow:
        try:
            info = self.client.info(row.queue_id)
        except BackendError:
            return row
        if info.exit_code is None and info.signal is None:
            return row
        return replace(row, exit_code=info.exit_code, signal=info.signal, ambiguous=False)


@dataclass(frozen=True)
class TsBackend:
    """A task-spooler server (its socket) and the binary that talks to it. `variant` is
    detected once, from the binary's `-V` banner, when a sweep is launched, and recorded with
    it: a recorded sweep's backend reads its queue as that variant (`of_record`)."""

    binary: str
    socket: str
    variant: str = "task-spooler"
    name: str = "ts"
    title: str = "task-spooler"
    # A ts job waits for one other (`-D`): a sweep dependency waits for a barrier job.
    waits_for_many: bool = False

    @property
    def where(self) -> str:
        return f"the ts server on {self.socket}"

    @classmethod
    def detect(cls, binary: str, socket: str | None) -> TsBackend:
        """Find and verify ts (`binary`: "auto", a name or a path) for `socket` (default:
        TS_SOCKET, else ts's own)."""
        found = Spooler.detect(binary, socket)
        return cls(found.binary, found.socket, found.variant)

    @classmethod
    def of_record(cls, record: Mapping[str, Any]) -> TsBackend:
        where = record["backend_record"]
        return cls(
            where["binary"], where["socket"], record.get("backend_variant") or "task-spooler"
        )

    @cached_property
    def client(self) -> Spooler:
        return Spooler(self.binary, self.socket, version="", variant=self.variant)

    def recorded(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "backend_variant": self.variant,
            "backend_record": {"binary": self.binary, "socket": self.socket},
        }

    def describe(self) -> str:
        return f"ts socket : {self.socket}"

    def check_resources(self, options: QueueOptions) -> None:
        self.client.check_resources(slots=options.slots, gpus=options.gpus)

    def submit(
        self,
        argv: Sequence[str],
        label: str,
        options: QueueOptions,
        *,
        after: int | None = None,
        pass_fds: Sequence[int] = (),
    ) -> int:
        return self.client.submit(
            argv,
            label,
            slots=options.slots,
            gpus=options.gpus,
            after=after,
            env=options.job_environment(),
            cwd=options.cwd,
            pass_fds=pass_fds,
        )

    def submit_batch(
        self,
        spec: Path,
        jobs: Sequence[JobRef],
        options: QueueOptions,
        *,
        after: Sequence[int] = (),
        hold: Callable[[JobRef], int],
    ) -> Iterator[Queued]:
        """One `ts` client per job, each holding its job's claim while it queues it."""
        if len(after) > 1:
            raise BackendError("task-spooler jobs can wait for one job only")
        spool = SpoolDir(spec.parent)
        make_private_dir(spool.jobs)
        for job in jobs:
            claim = hold(job)
            try:
                ts_id = self.submit(
                    marking_start(
                        spool.began(job.num, job.attempt), runner_argv(spec, job.num, job.attempt)
                    ),
                    job.label,
                    options,
                    after=after[0] if after else None,
                    pass_fds=(claim,),
                )
            finally:
                os.close(claim)
            yield Queued(job, ts_id)

    def server_id(self) -> str | None:
        return server_id(self.socket)

    def batch_unit(self) -> int:
        return 1

    def reachable_here(self) -> bool:
        return False  # the same socket path on another host is another server

    def look(self, jobs: Sequence[JobRef], warnings: list[str]) -> TsQueue | None:
        """The server as it is now. Its identity is read after its list: if the server died
        between the probe and the list, the ts client started a new, empty one, and the jobs
        it does not list are judged as missing from a new server, which is what happened.
        Another user's server (`tsclient.probe`) is not asked: None, with a warning."""
        try:
            if not self.client.alive():
                return TsQueue(self.client, alive=False, rows={})
            listing = self.client.list()
        except BackendError as e:
            warnings.append(f"could not ask task-spooler ({e}); jobs on it left as they were")
            return None
        rows = {row.id: queue_row(row) for row in listing.jobs}
        return TsQueue(
            self.client,
            alive=True,
            rows=rows,
            server_id=self.server_id(),
            complete=listing.complete,
        )

    def has_job(self, queue_id: int) -> bool:
        return self.client.alive() and any(row.id == queue_id for row in self.client.list().jobs)

    def job_output(self, text: str) -> str:
        """The job's own output, from the file ts captured it in: the GPU fork starts that
        file with the job's command line, which is not the job's."""
        return job_output(text) if self.variant == FORK else text

    def stop(self, rows: Sequence[QueueRow]) -> list[Stopped]:
        """One ts call a row: `-r` for a queued one (it may have started since: then `-k`)."""
        return [self._stop(row) for row in rows]

    def _stop(self, row: QueueRow) -> Stopped:
        try:
            if row.state is RowState.QUEUED and self.client.remove(row.queue_id):
                return Stopped(removed=True)
            return Stopped(killed=self.client.kill(row.queue_id))
        except BackendError as e:
            return Stopped(error=str(e))


def marking_start(marker: Path, argv: Sequence[str]) -> list[str]:
    """`argv`, run through a shell that first leaves `marker`. task-spooler forgets ended jobs
    (`ts -C`, `TS_MAXFINISHED`) as it forgets removed ones: without a mark, a job whose
    interpreter could not start (its virtualenv deleted while it was queued) and that ts then
    forgot would look removed before it started. `exec`: the runner keeps the shell's pid."""
    return ["/bin/sh", "-c", ': > "$0"; exec "$@"', str(marker), *argv]
