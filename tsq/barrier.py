"""`depends_on: <sweep>`: a tiny ts job that ends once every job of that sweep has ended.

Debian's task-spooler lets a job depend on one other job only, so the launcher queues this
barrier first and makes each of its jobs depend on it. It exits 0 when every job it watches has
a result file, or is neither queued nor running in ts any more (failed, lost, cancelled: ended
all the same), so the dependent jobs start whatever became of the others. Like the job runner,
it never opens the store.

    python -m tsq.barrier WATCH.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsq.errors import SpoolerError
from tsq.spooler import Spooler

if TYPE_CHECKING:  # the barrier itself runs without the store (and without SQLAlchemy)
    from tsq.store import Store, Sweep

POLL = 1.0


def watch_list(store: Store, sweep: Sweep) -> dict[str, Any] | None:
    """What a barrier must watch for `sweep`: its jobs that have not ended (None: none left).

    Called by the launcher, which refreshes the store first."""
    spool = sweep.spool
    active = [job for job in store.jobs([sweep.id]) if not job.state.terminal]
    if not active:
        return None
    return {
        "sweep": sweep.id,
        "ts_binary": sweep.ts_binary,
        "ts_socket": sweep.ts_socket,
        "jobs": [
            {"label": job.label, "result": str(spool.result_json(job.num, job.attempt))}
            for job in active
        ],
    }


def pending(watch: dict[str, Any], rows_by_label: dict[str, str]) -> list[str]:
    """Labels of the watched jobs that have not ended yet."""
    return [
        job["label"]
        for job in watch["jobs"]
        if not Path(job["result"]).exists()
        and rows_by_label.get(job["label"]) in ("queued", "running", "allocating")
    ]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tsq.barrier WATCH.json  (queued by tsq)", file=sys.stderr)
        return 2
    watch = json.loads(Path(args[0]).read_text())
    spooler = Spooler(binary=watch["ts_binary"], socket=watch["ts_socket"], version="")
    while True:
        try:
            rows = {row.label: row.state for row in spooler.list() if row.label}
        except SpoolerError:
            rows = {}  # that server is gone: its jobs have ended, one way or another
        left = pending(watch, rows)
        if not left:
            print(f"tsq: every job of sweep {watch['sweep']} has ended")
            return 0
        time.sleep(POLL)


if __name__ == "__main__":
    sys.exit(main())
