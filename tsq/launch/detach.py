"""Starting a sweep's watchers (`tsq.ops.notify`, `tsq.ops.feed`): detached processes that
outlive the launching shell, as the queued jobs do."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tsq.files.commands import watcher_argv


def start_watcher(module: str, spool_root: Path, log: Path, store: str) -> int:
    """Run `python -m MODULE SPOOL_ROOT` in a session of its own (Ctrl-C or a closed terminal
    does not reach it), its output appended to `log`, the store in $TSQ_STORE; its pid."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            watcher_argv(module, spool_root),
            env={**os.environ, "TSQ_STORE": store},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid
