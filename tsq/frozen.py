"""Keeping CPython's garbage collector off objects that live as long as the process.

A full collection walks every tracked object, and a process that has imported Hydra, OmegaConf
and SQLAlchemy holds ~90k of them, which nearly all live until exit. Frozen objects are skipped
by the collector and nothing else changes: objects are still freed when their last reference
goes, atexit handlers, non-daemon threads and logging's shutdown still run.
"""

from __future__ import annotations

import gc
import sys
from typing import NoReturn


def exit_quickly(code: int) -> NoReturn:
    """End a tsq process (a job's runner, a CLI command) without the interpreter's final
    collection: the spec, Hydra's state, SQLAlchemy's registries die with the process anyway,
    and the walk costs ~45 ms per job and ~110 ms per `status` call (measured, a sixth of
    the call)."""
    gc.freeze()
    sys.exit(code)


def freeze_imports() -> None:
    """Freeze what is alive now, once a launcher is set up: the modules, the app's own imports,
    the master config. Hydra then composes every job of the sweep, churning through enough
    objects for dozens of collections of the older generations, each of which would walk all
    of these again. On a 100-job launch the collector took 1.0-1.1 s (timed through
    `gc.callbacks`) against 0.6-0.8 s in a launcher that imports nothing; frozen, 0.6-0.8 s.
    Garbage is collected first, so nothing that is already dead is kept for the process's life.
    """
    gc.collect()
    gc.freeze()
