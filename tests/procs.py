"""Processes as tests see them: commands run in the background, for tests that act on them while
they run (read until they say something, then signal them or close their pipes), and whether a
process still runs."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from sweeps import Sandbox


def popen_tsq(sandbox: Sandbox, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    """`python -m tsq ARGS` in the sandbox, stdout and stderr piped, unbuffered on our side."""
    options: dict[str, Any] = {
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
        **kwargs,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tsq", *args], cwd=sandbox.app_dir, env=sandbox.env, **options
    )


def read_until(stream: IO[bytes] | None, text: str, timeout: float = 180) -> str:
    """What `stream` gave until `text` appeared in it: the condition a test waits for before it
    acts, instead of a sleep. Fails if the stream ends or `timeout` s pass first."""
    assert stream is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{text!r} did not appear in {timeout} s; got {seen!r}"
        ready, _, _ = select.select([stream], [], [], left)
        if ready:
            chunk = os.read(stream.fileno(), 65536)
            assert chunk, f"{text!r} did not appear before the end; got {seen!r}"
            seen += chunk
    return seen.decode()


def finish(proc: subprocess.Popen[bytes], timeout: float = 60) -> tuple[str, str]:
    """The rest of its stdout and stderr once it has exited."""
    out, err = proc.communicate(timeout=timeout)
    return out.decode(), err.decode()


def alive(pid: int) -> bool:
    """Is `pid` a live process? A zombie is not: PID 1 here does not reap orphans (a detached
    watcher, a killed daemon), so `kill -0` would call them alive."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ending_with(last: str) -> list[int]:
    """The live processes whose command line ends with the word `last` (a sweep's watchers end
    theirs with its spool dir: `python -m tsq.notify SPOOL`, whatever the module's name)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")[:-1]
        except OSError:
            continue
        if argv and argv[-1] == last.encode() and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def children(pid: int) -> list[list[str]]:
    """The command lines of the live processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")[:-1]
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and argv and alive(int(entry.name)):
            found.append([arg.decode(errors="replace") for arg in argv])
    return found
