"""The only module that runs task-spooler.

Every call names its server with TS_SOCKET in the child's environment, so whatever TS_SOCKET the
caller happens to export cannot send jobs to another queue, and reads stdin from /dev/null so ts
never waits on a terminal. Any ts call that talks to a server starts one when none is running;
status checks therefore probe the socket themselves first and refuse to wake a dead queue.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tsq.backends.tslist import (
    TsInfo,
    TsJob,
    parse_info,
    parse_list,
    parse_slots,
    parse_tab,
    parse_version,
    unread_tab_rows,
)
from tsq.errors import BackendError
from tsq.files.safeio import user_name

# -V never talks to a server; the others may wait behind a busy one.
_VERSION_TIMEOUT = 5.0
_TIMEOUT = 30.0
_PROBE_TIMEOUT = 2.0
_AUTO_NAMES = ("tsp", "ts")  # Debian renames the binary to tsp; upstream and the GPU fork use ts
_HINT = "install task-spooler or set hydra.launcher.binary to its path"
FORK = "gpu-task-spooler"  # the `variant` of the GPU fork (justanhduc); "task-spooler" otherwise


@dataclass(frozen=True)
class Listing:
    """One look at a server's jobs. `complete` is False when the listing printed a row it could
    not read: a job missing from it may be that row, so its absence proves nothing."""

    jobs: list[TsJob]
    complete: bool = True


def default_socket() -> str:
    """The socket ts uses when TS_SOCKET is unset: "$TMPDIR/socket-ts.<uid>", /tmp when TMPDIR is
    unset (an empty TMPDIR is used as is, as ts does)."""
    tmpdir = os.environ.get("TMPDIR", "/tmp")
    return os.path.abspath(f"{tmpdir}/socket-ts.{os.getuid()}")


@dataclass(frozen=True)
class Spooler:
    """A verified ts binary bound to one server socket.

    `variant` is "task-spooler" (Debian/upstream) or "gpu-task-spooler" (justanhduc fork), so a
    request for GPUs fails with a clear message instead of ts's "Wrong option G.".
    """

    binary: str
    socket: str
    version: str
    variant: str = "task-spooler"

    @classmethod
    def detect(cls, binary: str = "auto", socket: str | None = None) -> Spooler:
        """Find and verify ts by its `-V` banner: moreutils installs an unrelated `ts`.

        The socket is `socket`, else TS_SOCKET, else ts's own default, stored absolute so later
        calls from another working directory reach the same server.
        """
        socket_path = os.path.abspath(socket or os.environ.get("TS_SOCKET") or default_socket())
        if binary == "auto":
            candidates = [found for name in _AUTO_NAMES if (found := shutil.which(name))]
            if not candidates:
                raise BackendError(
                    "task-spooler is not installed (no `tsp` or `ts` on PATH); "
                    "install it with `apt-get install task-spooler`"
                )
        else:
            found = shutil.which(binary)
            if found is None:
                raise BackendError(
                    f"task-spooler binary `{binary}` was not found or is not executable; {_HINT}"
                )
            candidates = [found]
        executables = [os.path.abspath(candidate) for candidate in candidates]
        for executable in executables:
            banner = _run(executable, socket_path, ["-V"], timeout=_VERSION_TIMEOUT)
            parsed = parse_version(banner.stdout)
            if parsed is not None:
                variant, version = parsed
                return cls(executable, socket_path, version, variant)
        raise BackendError(
            f"`{executables[0]}` is not task-spooler (moreutils ships a `ts` too); {_HINT}"
        )

    def submit(
        self,
        argv: Sequence[str],
        label: str,
        *,
        slots: int = 1,
        gpus: int = 0,
        after: int | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        pass_fds: Sequence[int] = (),
    ) -> int:
        """Queue `argv` and return its ts id; with `after`, it starts once that ts job has
        ended, with `-D` on both variants, which do not mean the same by it (measured:
        tests/data/ts-fork-samples/README.md, tests/test_depends.py): Debian's ts runs the job
        only if that job exited 0 and skips it otherwise; the GPU fork runs it whatever that
        job's exit (its "only after success" is `-W`). tsq's barrier exits 0, so a sweep queued
        after a barrier starts once the barrier ends on both.

        `pass_fds` go to the ts client: the caller's lease (`tsq.files.lease`), so that a client
        still queueing the job when the caller is killed keeps the job claimed until it is done.

        ts runs the job with execvp (no shell) in the environment and working directory of
        this ts client, so `env` (default: ours) plus TS_SOCKET is exactly what the job sees,
        and `cwd` (default: ours) where it runs. "--" ends ts's options, so
        an argv starting with "-" is still the command. The label is printed as "[label]" in
        `ts -l`, which is why "]" and newlines would make the listing unparsable.
        """
        if not argv:
            raise ValueError("cannot submit an empty command")
        if "]" in label or "\n" in label or "\r" in label:
            raise ValueError(f"a ts label cannot contain ']' or newlines: {label!r}")
        self._check_request(slots=slots, gpus=gpus)
        options = ["-L", label]
        if slots > 1:
            options += ["-N", str(slots)]
        if gpus:
            options += ["-G", str(gpus)]
        if after is not None:
            options += ["-D", str(after)]
        args = [*options, "--", *argv]
        printed = self._checked(args, env=env, cwd=cwd, pass_fds=pass_fds).stdout.strip()
        if not (printed.isascii() and printed.isdigit()):
            raise BackendError(
                f"`{_describe(self.binary, args)}` printed no job id: {_one_line(printed)!r}"
            )
        return int(printed)

    def check_resources(self, *, slots: int, gpus: int) -> None:
        """Refuse what this ts cannot honour, so a launcher (or `tsq retry`) can say so before
        queueing anything.

        Beyond `_check_request`, the server must have the slots: ts never starts a job that
        needs more slots than its server has, it keeps it queued forever. Asking the server
        starts one when none runs, which is fine here, since the caller is about to queue:
        the count is then that new server's (TS_SLOTS, else 1), as the jobs would find it.
        One slot is always there, so the common case costs no ts call.
        """
        self._check_request(slots=slots, gpus=gpus)
        self.alive()  # refuses another user's server, before anything is queued
        if gpus and not self.has_gpus():
            raise BackendError(
                f"gpus={gpus} but `{self.binary}` is a CPU build of the GPU fork of "
                "task-spooler (`make cpu`: it has no -G option); set gpus to 0 or point "
                "hydra.launcher.binary at a build with GPU support"
            )
        if slots == 1:
            return
        available = self.slots()
        if slots > available:
            raise BackendError(
                f"slots={slots} but the task-spooler server on {self.socket} has {available}, "
                f"so ts would never start these jobs; give it more with "
                f"`TS_SOCKET={self.socket} {self.binary} -S {slots}` (or set TS_SLOTS={slots} "
                "before the server starts)"
            )

    def has_gpus(self) -> bool:
        """Whether this ts takes `-G`: the GPU fork built with GPU support.

        The fork's CPU build (`make cpu`) and the GPU build print the same `-V` banner; they
        differ in their option table (main.c: `-G` only `#ifndef CPU`). `ts -G 1 -V` asks that
        table without a server and without queueing anything: ts parses every option before it
        acts, so a CPU build stops at `-G` ("Wrong option G.", exit 255, measured:
        tests/data/ts-fork-samples/G-cpu-build.txt and tests/test_tsclient.py), and a GPU build
        takes `-G 1`, then `-V` prints the banner and exits 0 without contacting a server (from
        the fork's source: `-V` sets no `need_server`; no GPU build was run here). Debian's
        `tsp` answers like the CPU build.
        """
        if self.variant != FORK:
            return False
        answer = _run(self.binary, self.socket, ["-G", "1", "-V"], timeout=_VERSION_TIMEOUT)
        return answer.returncode == 0 and parse_version(answer.stdout) is not None

    def slots(self) -> int:
        """`ts -S`: how many slots the server has; starts a server when none runs."""
        printed = self._checked(["-S"]).stdout
        count = parse_slots(printed)
        if count is None:
            raise BackendError(f"`{self.binary} -S` printed no slot count: {_one_line(printed)!r}")
        return count

    def _check_request(self, *, slots: int, gpus: int) -> None:
        """What no ts server can honour, or this ts binary cannot: checked without a ts call,
        so `submit` checks it for every job."""
        if slots < 1 or gpus < 0:
            raise BackendError(f"slots must be >= 1 and gpus >= 0, got slots={slots} gpus={gpus}")
        if gpus and self.variant != "gpu-task-spooler":
            raise BackendError(
                f"gpus={gpus} needs the GPU fork of task-spooler (github.com/justanhduc/"
                f"task-spooler), but `{self.binary}` is task-spooler {self.version}; "
                "set gpus to 0 or point hydra.launcher.binary at the fork"
            )

    def alive(self) -> bool:
        """Connect to the socket ourselves: asking ts would start a server if none runs.
        BackendError, in one line, when the socket or its server is another user's
        (`probe`): nothing is queued there or judged from it.

        Only a missing socket file or a refused connection (a file left by a killed server)
        means the server is gone. ts listens with a backlog of 0, so a busy server answers a
        probe with EAGAIN or lets it time out: that is a live server, and taking it for a dead
        one would mark its jobs lost.
        """
        running, owner = probe(self.socket)
        if owner is not None:
            raise BackendError(
                f"the task-spooler server on {self.socket} is {owner}, not by you "
                f"({user_name(os.geteuid())}): jobs queued there would run as that user, who "
                "could also remove or replace them; set TS_SOCKET (or hydra.launcher.socket) "
                "to a socket of your own"
            )
        return running

    def info(self, ts_id: int) -> TsInfo:
        """`ts -i ID`; refuses when the server is down, where ts would start an empty one."""
        if ts_id < 0:
            raise ValueError(f"ts ids are not negative, got {ts_id}")
        self._require_server()
        return parse_info(self._checked(["-i", str(ts_id)]).stdout)

    def _require_server(self) -> None:
        if not self.alive():
            raise BackendError(f"task-spooler server on {self.socket} is not running")

    def _checked(
        self,
        args: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        pass_fds: Sequence[int] = (),
    ) -> subprocess.CompletedProcess[str]:
        result = _run(self.binary, self.socket, args, env=env, cwd=cwd, pass_fds=pass_fds)
        if result.returncode != 0:
            message = _one_line(result.stderr) or _one_line(result.stdout) or "no message"
            raise BackendError(
                f"`{_describe(self.binary, args)}` failed with exit code {result.returncode} "
                f"(TS_SOCKET={self.socket}): {message}"
            )
        return result

    def remove(self, ts_id: int) -> bool:
        """`ts -r ID`: drop a queued job. False when ts refused (it has started or ended)."""
        self._require_server()
        return _run(self.binary, self.socket, ["-r", str(ts_id)]).returncode == 0

    def kill(self, ts_id: int) -> bool:
        """`ts -k ID`: SIGTERM to a running job. False when ts refused (it is not running)."""
        self._require_server()
        return _run(self.binary, self.socket, ["-k", str(ts_id)]).returncode == 0

    def list(self) -> Listing:
        """The server's jobs: `ts -l` (Debian, upstream), `ts -M tab` (the GPU fork, whose `-l`
        shortens labels); refuses when the server is down, where ts would start an empty one.

        Neither lists a job whose client the server holds back for want of connections (over
        TS_MAXCONN or the open-file limit, less ~10 unfinished jobs): that client has not been
        given its id yet either (it blocks until the server takes the job; measured on the fork:
        tests/test_faults.py), so no recorded ts id is ever missing from a listing for that.
        """
        self._require_server()
        if self.variant == FORK:
            printed = self._checked(["-M", "tab"]).stdout
            return Listing(parse_tab(printed), complete=unread_tab_rows(printed) == 0)
        return Listing(parse_list(self._checked(["-l"]).stdout))


def _run(
    binary: str,
    socket_path: str,
    args: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    pass_fds: Sequence[int] = (),
    timeout: float = _TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    child_env = dict(os.environ if env is None else env)
    child_env["TS_SOCKET"] = socket_path
    try:
        return subprocess.run(
            [binary, *args],
            env=child_env,
            cwd=cwd,
            pass_fds=tuple(pass_fds),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        if cwd is not None and not os.path.isdir(cwd):
            raise BackendError(
                f"cannot queue in {cwd}: the directory the sweep was launched from no longer "
                "exists (jobs run where they were launched)"
            ) from None
        raise BackendError(
            f"task-spooler binary `{binary}` does not exist (any more); {_HINT}"
        ) from None
    except subprocess.TimeoutExpired:
        raise BackendError(
            f"`{_describe(binary, args)}` did not finish within {timeout:g} s "
            f"(TS_SOCKET={socket_path}); is the server hung?"
        ) from None
    except OSError as exc:
        raise BackendError(f"cannot run `{binary}`: {exc.strerror or exc}; {_HINT}") from None


def _describe(binary: str, args: list[str]) -> str:
    """The ts options of a call, without the job's argv, for one-line error messages."""
    options = args[: args.index("--")] if "--" in args else args
    return " ".join([binary, *options])


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def probe(socket_path: str) -> tuple[bool, str | None]:
    """Whether a ts server listens on `socket_path` (see `Spooler.alive`), and whose the
    socket or the server is when another user's than this process's (its effective uid: root
    may connect anywhere). Whoever made the socket first owns the server behind it (ts's
    default path is predictable), and that server runs our jobs as them.

    The file's owner is who bound it; the listening process's is asked with SO_PEERCRED, for
    a socket file handed over to us (a chown, a symlink of ours). A busy server that does not
    take the probe is judged by its file."""
    me = os.geteuid()
    try:
        st = os.lstat(socket_path)
    except (FileNotFoundError, NotADirectoryError):
        return False, None
    if st.st_uid != me:
        return True, f"owned by {user_name(st.st_uid)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(_PROBE_TIMEOUT)
        try:
            connection.connect(socket_path)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            return False, None
        except (BlockingIOError, TimeoutError):
            return True, None
        peer = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, _ = _UCRED.unpack(peer)
    return True, None if uid == me else f"run by {user_name(uid)} (pid {pid})"


_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_LISTENING = 0x10000  # __SO_ACCEPTCON in /proc/net/unix's Flags column


def server_id(socket_path: str) -> str | None:
    """The identity of the ts server listening on `socket_path` now; None if none listens.

    A restarted server reuses the path (and often the file's inode and times, measured), but
    its listening socket is a new kernel object: its inode in /proc/net/unix tells a job that
    vanished from a restarted server (lost) from one removed from the same server (`ts -r`).
    """
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as table:
            next(table, None)  # the header
            for line in table:
                fields = line.split()
                listening = len(fields) >= 8 and int(fields[3], 16) & _LISTENING
                if listening and fields[7] == socket_path:
                    return f"unix:{fields[6]}"
    except (OSError, ValueError):
        return None
    return None
