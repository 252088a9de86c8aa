"""Commands run in the background, for tests that act on them while they run: read until they
say something, then signal them or close their pipes."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
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
