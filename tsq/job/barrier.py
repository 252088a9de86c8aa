"""`depends_on: <sweep>`: a tiny queued job that ends once every job of that sweep has ended.

Debian's task-spooler lets a job depend on one other job only, so the launcher queues this
barrier first and makes each of its jobs depend on it. It exits 0 when every job it watches has
a result file, or is no longer queued or running in its queue (failed, lost, cancelled: ended
all the same), so the dependent jobs start whatever became of the others. A queue that could not
be asked (Slurm's controller down, a ts listing that failed) decides nothing, as for a refresh:
the barrier waits on, saying so in its output. Like the job runner, it never opens the store.

    python -m tsq.barrier WATCH.json
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from tsq.backends import JobRef, Queue, current_record, from_record
from tsq.files.safeio import NotYours, private_exists, read_private

POLL = 1.0


def pending(watch: dict[str, Any], queue: Queue | None) -> list[str]:
    """Labels of the watched jobs that have not ended yet. A queue that is gone (positive
    evidence: no ts server listens) has ended its jobs, one way or another; one that could not
    be asked (None), or a job missing from a listing that printed rows it could not read,
    proves nothing: such jobs have not ended unless they left their result."""
    left = []
    for job in watch["jobs"]:
        if _has_result(job["result"]) or (queue is not None and not queue.alive):
            continue
        row = None if queue is None else queue.find(_ref(job))
        if queue is None or (row is None and not queue.complete) or (row and row.state.active):
            left.append(job["label"])
    return left


def _has_result(path: str) -> bool:
    """Whether the job left its result. One another user's file stands for nothing: the queue
    says whether the job has ended."""
    try:
        return private_exists(path)
    except NotYours:
        return False


def _ref(job: dict[str, Any]) -> JobRef:
    """A watched job; lists written before they named the job's number (ts matches by label
    alone) get -1."""
    return JobRef(job.get("num", -1), job.get("attempt", 1), job["label"], job.get("queue_id"))


def _recorded(watch: dict[str, Any]) -> dict[str, Any]:
    """The watched sweep's backend (`Backend.recorded`); lists written before backends were
    recorded name a ts binary and socket in the list itself."""
    return current_record(
        watch.get("backend") or {"ts_binary": watch["ts_binary"], "ts_socket": watch["ts_socket"]}
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tsq.barrier WATCH.json  (queued by tsq)", file=sys.stderr)
        return 2
    try:  # it names the program this barrier runs: only our own launcher's list is read
        watch = json.loads(read_private(args[0]))
    except NotYours as e:
        print(f"tsq.barrier: {e}", file=sys.stderr)
        return 2
    backend = from_record(_recorded(watch))
    said: list[str] = []
    while True:
        warnings: list[str] = []
        left = pending(watch, backend.look([_ref(job) for job in watch["jobs"]], warnings))
        if warnings != said:  # once per change, not every poll of an outage
            for line in warnings or [f"{backend.title} answers again"]:
                print(f"tsq: {line}", flush=True)
            said = warnings
        if not left:
            print(f"tsq: every job of sweep {watch['sweep']} has ended")
            return 0
        time.sleep(POLL)
