"""Owner-only, atomic files for every file tsq reads back, and the dirs they live in.

Specs and results are pickles, and unpickling runs code: a file another user could have written
must never be loaded. The JSON records are no safer: a `started` record or a result summary
decides how a job is recorded, a barrier's watch list names the program it runs. So every file
tsq reads back must be the reader's own (its owner is this process's effective uid: root passes
every permission check, so access rights prove nothing), not writable by group or others, and
not a symlink; and so must every dir on the way to it from the sweep dir, or whoever owns such a
dir could swap what is below it (`check_dirs`). Writes are atomic (temp file, fsync, rename) so a
reader sees either nothing or the whole file, even when the writer is killed half-way.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tsq.errors import SpecError

WRITABLE = stat.S_IWGRP | stat.S_IWOTH


class NotYours(SpecError):
    """A file or dir another user wrote, or could have: nothing is read from it."""


def user_name(uid: int) -> str:
    """`name (uid N)`, or `uid N` for a uid without a name, for messages."""
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def not_yours(st: os.stat_result, writable: int = WRITABLE) -> str | None:
    """Why a file or dir with this (l)stat is not this process's own; None when it is.
    `writable`: the write bits it must not have (a shared sweep dir may have others' with the
    sticky bit: `check_dirs`)."""
    me = os.geteuid()
    if st.st_uid != me:
        return f"owned by {user_name(st.st_uid)}, not by you ({user_name(me)})"
    if stat.S_ISLNK(st.st_mode):
        return "a symlink"
    if st.st_mode & writable:
        who = "others" if writable == stat.S_IWOTH else "group or others"
        return f"writable by {who} (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def make_private_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700 for the dirs tsq creates."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def write_atomic(path: Path, *chunks: bytes) -> None:
    """Write `chunks` one after the other as the file's content (not joined first: a big
    sweep's spec is not held twice in memory)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.writelines(chunks)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_private(path: Path | str, st: os.stat_result) -> None:
    """Refuse files we did not write for ourselves; raised before a byte is read from them."""
    why = not_yours(st)
    if why is not None:
        raise NotYours(
            f"refusing to load {path}: it is {why}; only files tsq wrote (0600) are read"
        )


def open_private(path: Path | str) -> int:
    """A descriptor of `path` for reading, once `check_private` passed on the very file opened
    (its fstat: no window between the check and the read); a symlink is refused, not followed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NotYours(f"refusing to load {path}: it is a symlink") from None
        raise
    try:
        check_private(path, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_private(path: Path | str) -> bytes:
    """The whole file (`open_private`). Plain `os` calls, not a buffered `open()`: a first look
    at a 10k-job sweep reads 10k of these."""
    fd = open_private(path)
    try:
        size = os.fstat(fd).st_size
        chunks = []
        while chunk := os.read(fd, max(size + 1, 4096)):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def private_exists(path: Path | str) -> bool:
    """Whether a mark file tsq writes empty (nothing is read from it) exists; NotYours when
    another user's file (or a symlink) stands there."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    check_private(path, st)
    return True


def check_dirs(top: Path, below: Sequence[Path], advice: str) -> None:
    """Refuse a tree of tsq's files another user could change: `top` (a sweep dir) must be
    this process's own and not writable by others unless it has the sticky bit (then nobody
    else can rename or remove what is ours in it); each of `below` (the dirs tsq made in it,
    top-down) must be ours and private. A missing dir ends the walk: nothing is below it to
    read. `advice` ends the one-line refusal: what to do."""
    for path in [top, *below]:
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return
        if path != top:
            why = not_yours(st)
        else:  # a sweep dir may be shared with others (umask 002), or with all, if sticky
            why = not_yours(st, 0 if st.st_mode & stat.S_ISVTX else stat.S_IWOTH)
        if why is None and not stat.S_ISDIR(st.st_mode):
            why = "not a directory"
        if why is not None:
            if path == top and why.startswith("writable"):
                why += " without the sticky bit"
            raise NotYours(
                f"refusing {path}: it is {why}, so another user could swap the files tsq "
                f"reads there; {advice}"
            )
