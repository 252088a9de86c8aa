"""A real `tsq ui` process on a free port, for the page's tests."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

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

    def raw(self, target: str, host: str | None, headers: dict[str, str] | None = None):
        """GET `target` with exactly these bytes on the wire (urllib would fix the Host): the
        status and body; the status is 0 when the server closed without an answer."""
        lines = [f"GET {target} HTTP/1.1"]
        lines += [] if host is None else [f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        request = "\r\n".join([*lines, "Connection: close", "", ""]).encode()
        with socket.create_connection(("127.0.0.1", urlsplit(self.url).port), timeout=30) as s:
            s.sendall(request)
            answer = b"".join(iter(lambda: s.recv(65536), b""))
        if not answer:
            return 0, b""
        head, _, body = answer.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body

    def stderr(self) -> str:
        """What the server wrote to stderr, once it has been stopped (after the `with`)."""
        assert self.proc.stderr is not None and self.proc.poll() is not None
        return self.proc.stderr.read()


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
