"""Owner-only, atomic files for specs and results.

Specs and results are pickles, and unpickling runs code: a file another user could have written
must never be loaded. Writes are atomic (temp file, fsync, rename) so a reader sees either nothing
or the whole file, even when the writer is killed half-way.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from tsq.errors import SpecError


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
    """Refuse files we did not write for ourselves; raised before a byte is unpickled."""
    if st.st_uid != os.getuid():
        raise SpecError(f"refusing to load {path}: it is owned by uid {st.st_uid}, not by you")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise SpecError(
            f"refusing to load {path}: it is writable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):o}); only files tsq wrote (0600) are loaded"
        )


def read_private(path: Path | str) -> bytes:
    """The whole file, once `check_private` passed on the very file read. Plain `os` calls,
    not a buffered `open()`: a first look at a 10k-job sweep reads 10k of these."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        check_private(path, st)
        chunks = []
        while chunk := os.read(fd, max(st.st_size + 1, 4096)):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
