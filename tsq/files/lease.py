"""Leases: how a live command (a launcher queueing jobs, `retry`, `cancel`) tells every other
process that it is working on some jobs, so that nobody judges those jobs from the queue's
silence meanwhile.

A lease is a lock file in the sweep's spool dir, held with `flock` for as long as the command
runs; the store names it (`jobs.lease`) on every job the command has claimed. Another process
asks whether the lease is still held by trying to take the lock itself. The kernel drops the lock
when the holder dies, however it dies (SIGKILL included), so a lease is never mistaken for live
after its holder is gone, and never for dead while it runs: unlike a recorded pid, it cannot be
fooled by pid reuse or by a holder in another pid namespace (its pid 1 is someone else's here).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import socket
import sys
from pathlib import Path

from tsq.errors import SpecError
from tsq.files.safeio import open_private
from tsq.files.spool import SpoolDir


def _path(spool_root: Path, token: str) -> Path:
    return SpoolDir(spool_root).lease(token)


def lease_part(num: int, attempt: int) -> str:
    """The part of a lease that one job attempt being queued holds (`Lease.hold_for`)."""
    return f"{num}-{attempt}"


class Lease:
    """A held lease; `release()` (or the process's end) gives it up."""

    def __init__(self, token: str, path: Path, fd: int) -> None:
        self.token = token
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, spool_root: Path) -> Lease:
        """Create and lock a new lease file. It is locked before any job names it, so a job
        that names a lease whose file is unlocked (or gone) has lost its holder."""
        token = f"{socket.gethostname()[:32]}-{os.getpid()}-{secrets.token_hex(4)}"
        path = _path(spool_root, token)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        # For a person who finds the file: who holds it. Nothing reads it back.
        os.write(fd, json.dumps({"pid": os.getpid(), "argv": sys.argv}).encode())
        return cls(token, path, fd)

    def hold_for(self, part: str) -> int:
        """Lock a file of this lease for one part of the work (a job being queued) and return
        its descriptor, to give to the child process doing that part (`pass_fds`).

        A ts client queueing a job may outlive this process (killed meanwhile) and still queue
        the job; given this file, it keeps the job claimed until it ends. It must be a file of
        its own: a ts client lives on until its job ends, and would otherwise keep every other
        job of the lease claimed as long."""
        fd = os.open(_path(self.path.parents[1], f"{self.token}.{part}"),
                     os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)  # fmt: skip
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def settle(self, parts: list[str]) -> None:
        """The work of these parts is recorded: their files are no longer needed."""
        for part in parts:
            _path(self.path.parents[1], f"{self.token}.{part}").unlink(missing_ok=True)

    def release(self) -> None:
        """Remove the files, then unlock: a prober sees a missing file or a free lock, both
        meaning the holder is done."""
        if self._fd is None:
            return
        for part in self.path.parent.glob(f"{self.token}.*.lock"):
            part.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def held(spool_root: Path, token: str, part: str | None = None) -> bool:
    """Whether the lease `token` of this spool dir is held by a live process (this one too),
    or, for `part`, by the child process it gave that part to (`Lease.hold_for`)."""
    if part is not None and held(spool_root, f"{token}.{part}"):
        return True
    try:
        fd = open_private(_path(spool_root, token))
    except FileNotFoundError:
        return False
    except (OSError, SpecError):
        # cannot tell (permissions, I/O, a file that is not ours): never take a live holder
        # for dead
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True
    else:
        Path(_path(spool_root, token)).unlink(missing_ok=True)  # its holder died: tidy up
    finally:
        os.close(fd)
    return False
