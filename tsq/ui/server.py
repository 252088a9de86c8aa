"""`tsq ui`: a read-only local web page over the store, served by the standard library.

One `ThreadingHTTPServer`; the page polls small JSON endpoints. The store is brought up to date
(`tsq.refresh.update.refresh`, what `tsq status` does) at most once every `refresh_every` seconds,
whatever the number of open pages; between refreshes every request is answered from what was read.
A sweep's document is rebuilt only when its jobs changed (a grouped query on the jobs' state,
count, version and update time tells), and each job's result summary is parsed once
(`data.Results`), from the store's copy or, for a job without one, its file.

Access: on a loopback address anyone on this machine may read, and requests must name the host
as a loopback name or address (`localhost`, 127.0.0.0/8, `[::1]`): a page elsewhere cannot reach
it through a DNS name that points here, however that name is spelt. On any other address every
request needs the access token printed on start (`?token=`, then a cookie). The page changes
nothing: every request is a GET. A query the page never sends (a job number that is not one, a
sweep id with a NUL) gets a 400 in the usual `{"error": ...}` shape, never a traceback.
"""

from __future__ import annotations

import errno
import hmac
import io
import ipaddress
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import parse_qs, urlsplit

from tsq.errors import TsqError
from tsq.render.tables import strict_json
from tsq.ui import page
from tsq.ui.data import Results, job_rows, sweep_payload, sweeps_payload

if TYPE_CHECKING:
    from tsq.store import Store

LOG_LIMIT = 256_000  # the last characters of a job's logs a page gets
# A Host header: a bracketed IPv6 address or a name without colons, then an optional port.
# `[0-9]`, not `\d`: `\d` takes Unicode digits too.
HOST_HEADER = re.compile(r"(?:\[(?P<v6>[^\]]*)\]|(?P<name>[^:\[\]]*))(?::[0-9]{1,5})?")
# Job numbers are the store's 64-bit integers: more digits is not a job (and `int()` refuses
# over 4300 digits).
MAX_NUM_DIGITS = 18


class BadRequest(Exception):
    """A query the page never sends: answered 400 with the message."""


def is_loopback(host: str) -> bool:
    """Whether an address to serve on is this machine's only: `localhost`, or an IP address in
    127.0.0.0/8 or ::1, parsed (a prefix test would take `127.0.0.1.evil.example`)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_host_header(value: str) -> bool:
    """Whether a request's Host header names this machine: `localhost`, an IPv4 address in
    127.0.0.0/8 or `[::1]`, each with an optional port. Anything else, a DNS name above all
    (`127.0.0.1.evil.example` may resolve here: DNS rebinding), is not."""
    found = HOST_HEADER.fullmatch(value)
    return found is not None and is_loopback(found["v6"] or found["name"])


def same_token(given: str, token: str) -> bool:
    """A constant-time comparison that takes any text: `hmac.compare_digest` refuses non-ASCII
    str, so both sides are compared as UTF-8 bytes."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())


def job_number(text: str) -> int:
    """`num=`: ASCII digits only (`str.isdigit` also takes `²`, which `int()` refuses)."""
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_NUM_DIGITS:
        raise BadRequest(f"bad job number {text!r}: write the job's number, e.g. num=3")
    return int(text)


def sweep_ref(text: str) -> str:
    """`id=`: a sweep id, prefix or dir; a NUL in it is none of these (and paths refuse it)."""
    if "\0" in text:
        raise BadRequest(f"bad sweep id {text!r}: write a sweep id, e.g. id=3f9a")
    return text


class View:
    """The store as the page sees it: refreshed at most once every `every` seconds."""

    def __init__(self, store: Store, every: float) -> None:
        self.store = store
        self.every = every
        self.results = Results()
        self._lock = threading.Lock()
        self._refreshed = -float("inf")
        self._fingerprints: dict[str, tuple[Any, ...]] = {}
        self._sweeps: bytes = b""
        # (sweep id, --by) -> (the jobs' fingerprint it was built from, version, document)
        self._docs: dict[tuple[str, Any], tuple[tuple[Any, ...], str, bytes]] = {}
        self.refreshes = 0

    def _fresh(self) -> None:
        """Refresh (if the last one is older than `every`) and read the sweeps; under the lock."""
        from tsq.refresh.update import refresh

        if time.monotonic() - self._refreshed < self.every:
            return
        refresh(self.store)
        self.refreshes += 1
        self._refreshed = time.monotonic()
        self._fingerprints = self.store.fingerprints()
        counts = self.store.state_counts()
        self._sweeps = strict_json(
            {"sweeps": sweeps_payload(self.store.sweeps(), counts), "at": time.time()}
        ).encode()

    def sweeps(self) -> bytes:
        with self._lock:
            self._fresh()
            return self._sweeps

    def sweep(self, ref: str, by: tuple[str, ...] | None) -> tuple[str, bytes]:
        """A sweep's document and its version (the page skips an unchanged one)."""
        with self._lock:
            self._fresh()
            sweep = self.store.find_sweep(ref)
            fingerprint = self._fingerprints.get(sweep.id, ())
            key = (sweep.id, by)
            cached = self._docs.get(key)
            if cached is None or cached[0] != fingerprint:
                jobs = job_rows(self.store, sweep.id)
                doc = sweep_payload(sweep, jobs, self.results, by)
                version = secrets.token_hex(4)
                body = strict_json({**doc, "version": version}).encode()
                cached = self._docs[key] = (fingerprint, version, body)
            return cached[1], cached[2]

    def log(self, ref: str, num: int) -> str:
        from tsq.ops import logs

        with self._lock:
            self._fresh()
            sweep = self.store.find_sweep(ref)
            job = next((j for j in self.store.jobs([sweep.id]) if j.num == num), None)
        if job is None:
            raise TsqError(f"sweep {sweep.id} has no job {num}")
        out = io.StringIO()
        logs.show(sweep, job, out)
        text = out.getvalue()
        return text if len(text) <= LOG_LIMIT else "...\n" + text[-LOG_LIMIT:]


def make_handler(view: View, token: str | None, html: bytes, plotly: Path) -> type:
    class Handler(BaseHTTPRequestHandler):
        server_version = "tsq-ui"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal is yours
            pass

        def _send(self, status: int, body: bytes, kind: str, extra: dict[str, str] | None = None):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, body: bytes) -> None:
            self._send(status, body, "application/json", {"Cache-Control": "no-store"})

        def _error(self, status: int, message: str) -> None:
            self._json(status, json.dumps({"error": message}).encode())

        def _allowed(self, query: dict[str, list[str]]) -> dict[str, str] | None:
            """Extra headers for an allowed request (a cookie to set); None if refused."""
            if token is None:
                return {} if loopback_host_header(self.headers.get("Host") or "") else None
            given = query.get("token", [""])[0]
            if given and same_token(given, token):
                return {"Set-Cookie": f"tsq_token={token}; HttpOnly; SameSite=Strict; Path=/"}
            cookie = SimpleCookie(self.headers.get("Cookie") or "")
            held = cookie["tsq_token"].value if "tsq_token" in cookie else ""
            return {} if held and same_token(held, token) else None

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            extra = self._allowed(query)
            if extra is None:
                self._error(HTTPStatus.FORBIDDEN, "forbidden: open the address tsq ui printed")
                return
            try:
                self._route(url.path, query, extra)
            except BadRequest as e:
                self._error(HTTPStatus.BAD_REQUEST, str(e))
            except TsqError as e:
                self._error(HTTPStatus.NOT_FOUND, str(e))
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _route(self, path: str, query: dict[str, list[str]], extra: dict[str, str]) -> None:
            if path == "/":
                self._send(HTTPStatus.OK, html, "text/html; charset=utf-8", extra)
            elif path == "/plotly.min.js":
                body = plotly.read_bytes()
                cache = {"Cache-Control": "max-age=86400"}
                self._send(HTTPStatus.OK, body, "text/javascript; charset=utf-8", cache)
            elif path == "/api/sweeps":
                self._json(HTTPStatus.OK, view.sweeps())
            elif path == "/api/sweep":
                ref = sweep_ref(query.get("id", [""])[0])
                by_text = query.get("by")
                by = tuple(k for k in by_text[0].split(",") if k) if by_text else None
                version, body = view.sweep(ref, by)
                if query.get("v", [""])[0] == version:
                    body = json.dumps({"unchanged": True, "version": version}).encode()
                self._json(HTTPStatus.OK, body)
            elif path == "/api/log":
                num = job_number(query.get("num", [""])[0])
                text = view.log(sweep_ref(query.get("id", [""])[0]), num)
                self._send(HTTPStatus.OK, text.encode(), "text/plain; charset=utf-8")
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no page {path}")

    return Handler


def bind(host: str, port: int, handler: type) -> ThreadingHTTPServer:
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise TsqError(
                f"cannot serve on {host}:{port}: the port is in use; pick another with --port"
            ) from None
        raise TsqError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None
    server.daemon_threads = True
    return server


def serve(
    store_location: str | None,
    host: str,
    port: int,
    every: float,
    out: TextIO,
    ready: Callable[[ThreadingHTTPServer], None] | None = None,
) -> int:
    from tsq.store import Store

    plotly = page.plotly_js()
    store = Store.open(store_location)
    view = View(store, every)
    listing = json.loads(view.sweeps())  # a store that cannot be read fails here, in one line
    if listing["sweeps"]:  # read the latest sweep's results now, not on the first page view
        latest = listing["sweeps"][0]["id"]
        threading.Thread(target=view.sweep, args=(latest, None), daemon=True).start()
    token = None if is_loopback(host) else secrets.token_urlsafe(24)
    server = bind(host, port, make_handler(view, token, page.html(), plotly))
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.server_address[1]}/"
    if token:
        url += f"?token={token}"
    print(f"tsq ui: serving {url}  (store {store.display}; Ctrl-C stops)", file=out, flush=True)
    if ready is not None:
        ready(server)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("tsq ui: stopped", file=out)
    finally:
        server.server_close()
        store.close()
    return 0
