"""Debian's headless chromium driven through chromedriver's WebDriver HTTP API (plain urllib):
no browser download, no client library."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from eventually import eventually

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,2200",
]


class NoBrowser(Exception):
    """chromium or chromedriver is missing or cannot start here."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    def __init__(self, profile: Path) -> None:
        chromium = shutil.which("chromium")
        driver = shutil.which("chromedriver")
        if chromium is None or driver is None:
            raise NoBrowser("chromium and chromedriver are not installed (scripts/setup.sh)")
        port = _free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.driver = subprocess.Popen(
            [driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            eventually(self._ready, "chromedriver to start", timeout=20, interval=0.1)
        except AssertionError:
            self.driver.kill()
            raise NoBrowser("chromedriver did not start") from None
        options = {"binary": chromium, "args": [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]}
        try:
            made = self._call(
                "POST",
                "/session",
                {"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}},
            )
        except RuntimeError as e:
            self.driver.kill()
            raise NoBrowser(f"chromium did not start: {e}") from None
        self.session = f"/session/{made['value']['sessionId']}"

    def _ready(self) -> bool:
        try:
            return bool(self._call("GET", "/status")["value"].get("ready"))
        except (OSError, ValueError):  # not listening yet
            return False

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(e.read().decode(errors="replace")[:2000]) from None

    def open(self, url: str) -> None:
        self._call("POST", f"{self.session}/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """The value of a JavaScript function body (`return ...`) run in the page."""
        return self._call(
            "POST", f"{self.session}/execute/sync", {"script": script, "args": list(args)}
        )["value"]

    def wait_for(self, script: str, timeout: float = 60, what: str = "") -> Any:
        return eventually(
            lambda: self.run(script), f"the page to show {what or script}", timeout=timeout
        )

    def screenshot(self, path: Path) -> Path:
        png = base64.b64decode(self._call("GET", f"{self.session}/screenshot")["value"])
        path.write_bytes(png)
        return path

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self._call("DELETE", self.session)
        self.driver.terminate()
        self.driver.wait(timeout=10)
