"""A real `tsq ui` process on a free port, for the page's tests."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sweeps import Sandbox


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[str]

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
        request = urllib.request.Request(self.url.split("?")[0].rstrip("/") + path)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)


@contextmanager
def tsq_ui(sandbox: Sandbox, *args: str) -> Iterator[Served]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tsq", "ui", "--port", "0", *args],
        cwd=sandbox.root,
        env=sandbox.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        found = re.search(r"serving (\S+)", line)
        if not found:
            proc.kill()
            raise AssertionError(f"tsq ui did not start: {line!r} {proc.communicate()[1]!r}")
        yield Served(found.group(1), proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
