"""One sweep at a time per sweep dir: the claim a launch and a retry make before they queue.

Two sweeps writing into one dir at once overwrite each other's multirun.yaml, job output dirs
and `.hydra/` files (job N of both writes `<sweep dir>/N`), and Hydra's default
`multirun/${now:%Y-%m-%d}/${now:%H-%M-%S}` gives one dir to sweeps launched in the same second,
which fire-and-forget makes likely. tsq refuses rather than picking another dir: the sweep dir is
the user's (set in their config or command line, read by their scripts), and a launcher that
moved it would make every one of those wrong without a word. Hydra's default dir, which nobody
chose, is made unique before it is claimed instead (`tsq.defaultdir`). A dir whose other tsq
sweeps have all ended is used again, as Hydra's own launchers do when a sweep is run into a fixed
dir once more; so is an ended sweep's dir by `tsq retry`, whose jobs write where they did before.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from tsq.errors import TsqError
from tsq.files.lease import Lease, held
from tsq.files.safeio import make_private_dir
from tsq.files.spool import SpoolDir

if TYPE_CHECKING:
    from tsq.store import Store

log = logging.getLogger(__name__)

# What each claimant is told to do about a sweep dir in use.
LAUNCH_ADVICE = (
    "wait for it to end, or give this sweep a dir of its own, e.g. "
    "'hydra.sweep.dir=multirun/${now:%Y-%m-%d}/${now:%H-%M-%S-%f}'"
)
RETRY_ADVICE = "retry once it has ended (tsq wait {holder}): its jobs write there too"


def claim_sweep_dir(
    sweep_dir: Path, sweep_id: str, store: Store, advice: str = LAUNCH_ADVICE
) -> tuple[SpoolDir, Lease]:
    """Make the sweep's spool dir (if new) and a lease in it, refusing a sweep dir that another
    tsq sweep is using; `advice` (may name `{holder}`) ends the refusal.

    A sweep dir another user could change is refused first (`SpoolDir.check_owner`): they
    could swap the files its jobs leave, which decide how the jobs are recorded.

    A sweep is in use while a command holds a lease in its spool dir (a launcher still
    queueing it, a retry or cancel at work) or the store has jobs of it queued or running; the
    claiming sweep's own are no obstacle (a retry of some jobs while others run). The check
    and the new lease are made under an exclusive lock on the `<sweep dir>/.tsq` directory
    itself, so of two claims racing for one dir (two launches, a launch and a retry) the
    second sees the first's lease and is refused.
    """
    claims = sweep_dir / ".tsq"
    spool = SpoolDir(claims / sweep_id)
    spool.check_owner()  # before anything is made in a dir another user could change
    make_private_dir(claims)
    fd = os.open(claims, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        spool.check_owner()  # `.tsq` too, whoever made it
        for other in sorted(claims.iterdir()):
            if other.name == sweep_id or not other.is_dir():
                continue
            if _in_use(other, store):
                raise TsqError(
                    f"the sweep dir {sweep_dir} is in use by tsq sweep {other.name}, which is "
                    "being launched or has jobs queued or running; "
                    + advice.replace("{holder}", other.name)
                )
            if _unknown(other, store):
                log.warning(
                    f"tsq: {sweep_dir} holds the files of sweep {other.name}, which the store "
                    f"{store.display} does not know (was it deleted or re-created?); its jobs "
                    f"may still run there: `tsq adopt {other}` records it again"
                )
        make_private_dir(spool.root)
        return spool, Lease.acquire(spool.root)
    finally:
        os.close(fd)


def _unknown(spool_root: Path, store: Store) -> bool:
    """Whether this spool dir is of a sweep that was launched (its batch spec was written) but
    that the store does not hold: a store lost since, or a sweep recorded in another store."""
    return any(spool_root.glob("spec-*.pkl")) and not store.has_sweep(spool_root.name)


def _in_use(spool_root: Path, store: Store) -> bool:
    """Whether the sweep of this spool dir is being launched, retried or cancelled (a lease in
    it is held), or the store holds jobs of it that have not ended."""
    leases = SpoolDir(spool_root).leases
    if leases.is_dir() and any(held(spool_root, f.stem) for f in leases.glob("*.lock")):
        return True
    from tsq.refresh.update import refresh

    # A sweep that ended since the last refresh is free. Not retried from here: a retry
    # claims a sweep dir too, under the lock held now.
    refresh(store, spool_root.name, retries=False)
    return bool(store.active_jobs(spool_root.name))


def release_sweep_dir(spool: SpoolDir) -> None:
    """Undo `claim_sweep_dir` for a sweep that was never recorded."""
    shutil.rmtree(spool.root, ignore_errors=True)
