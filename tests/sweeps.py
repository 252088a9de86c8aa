"""Running real Hydra apps against a private task-spooler and store, as a user would."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from eventually import eventually

APPS = Path(__file__).parent / "apps"
SLOTS = 2
TERMINAL = {"completed", "failed", "cancelled", "lost"}
# A test about one task-spooler variant only (conftest.py `ts_variant`).
debian_only = pytest.mark.parametrize("ts_variant", ["debian"])
fork_only = pytest.mark.parametrize("ts_variant", ["fork"])


def notify_with(out: Path) -> str:
    """The override that makes `tests/apps/notifier.py` the sweep's notify command: it appends
    one JSON line to `out` per run (the TSQ_* environment, its cwd, when it ran)."""
    return f"+hydra.launcher.notify='{sys.executable} notifier.py {out}'"


def notified(path: Path, timeout: float = 60) -> list[dict]:
    """The notifier's lines, once it has written one."""
    text = eventually(
        lambda: path.read_text() if path.exists() else "",
        "the notifier to write its line",
        until=lambda text: text.endswith("\n"),
        timeout=timeout,
    )
    return [json.loads(line) for line in text.splitlines()]


@dataclass
class Sandbox:
    """A copy of the test app in a temp dir, with its own ts socket and store, and the ts
    variant of the test (`binary`, first on PATH: the apps' `auto` finds it too)."""

    root: Path
    socket: str
    store: Path
    binary: str = "tsp"
    variant: str = "debian"
    env: dict[str, str] = field(default_factory=dict)
    # Run every command through this (e.g. `nsenter` into another host's mount namespace).
    prefix: tuple[str, ...] = ()

    @classmethod
    def create(
        cls, root: Path, socket: str, binary: str = "tsp", variant: str = "debian"
    ) -> Sandbox:
        shutil.copytree(APPS, root / "app")
        env = dict(
            os.environ,
            TS_SOCKET=socket,
            TSQ_STORE=str(root / "store" / "tsq.db"),
            HYDRA_FULL_ERROR="0",
        )
        env.pop("PYTHONPATH", None)
        box = cls(root, socket, root / "store" / "tsq.db", binary, variant, env)
        box.tsp("-S", str(SLOTS))
        return box

    def as_host(self, name: str, *, prefix: tuple[str, ...] = ()) -> Sandbox:
        """The same sandbox (app, store, sweep dirs) seen from host `name` (`TSQ_HOST`), its
        commands run through `prefix`."""
        return replace(self, env={**self.env, "TSQ_HOST": name}, prefix=prefix)

    @property
    def backend_variant(self) -> str:
        """What tsq records for this variant (`Sweep.backend_variant`)."""
        return "gpu-task-spooler" if self.variant == "fork" else "task-spooler"

    @property
    def app_dir(self) -> Path:
        return self.root / "app"

    def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        check: bool = True,
        timeout: float = 120,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*self.prefix, *argv],
            cwd=cwd or self.app_dir,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{argv} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def sweep(
        self,
        *overrides: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        script: str = "app.py",
    ) -> subprocess.CompletedProcess[str]:
        """`python app.py -m ... hydra/launcher=ts` with the sweep dir inside the sandbox."""
        return self.run(
            [
                sys.executable,
                script,
                "-m",
                "hydra/launcher=ts",
                f"hydra.sweep.dir={self.root}/multirun/${{now:%H-%M-%S-%f}}",
                *overrides,
            ],
            check=check,
            env=env,
        )

    def tsq(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run([sys.executable, "-m", "tsq", *args], check=check)

    def status(self, *args: str) -> list[dict[str, Any]]:
        return json.loads(self.tsq("status", "--all", "--json", *args).stdout)

    def wait_terminal(self, timeout: float = 240) -> list[dict[str, Any]]:
        """Refresh until every job is terminal; then every job as `tsq status --all --json`
        gives it. All in this process (the code `status` runs, without starting an interpreter
        per poll: tests of the command itself call it), backing off from 0.1 s to 1 s."""
        from tsq.refresh.update import refresh
        from tsq.render.views import job_json
        from tsq.store import Store

        store = Store.open(self.env.get("TSQ_STORE", str(self.store)))

        def refreshed() -> tuple[list[Any], list[Any]]:  # the jobs first: a timeout shows them
            refresh(store)
            sweeps = store.sweeps()
            return store.jobs([sweep.id for sweep in sweeps]), sweeps

        try:
            jobs, sweeps = eventually(
                refreshed,
                "every job to end",
                until=lambda seen: seen[0] and all(job.state.terminal for job in seen[0]),
                timeout=timeout,
                interval=0.1,
                max_interval=1.0,
            )
        finally:
            store.close()
        now = time.time()  # `status` lists the newest sweep first
        rows = [job_json(s, j, now) for s in sweeps for j in jobs if j.sweep_id == s.id]
        return json.loads(json.dumps(rows))

    def python(self, code: str) -> str:
        """What `python -c code` prints, run with the sandbox's environment from its root (not
        the app's dir: `tsq.collect()` must work from anywhere)."""
        return self.run([sys.executable, "-c", code], cwd=self.root).stdout

    def tsp(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, self.binary, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            stdin=subprocess.DEVNULL,
            timeout=30,
        )

    def listing(self) -> str:
        """The queue with whole labels and dependencies ("[label]", "[3]&& "): `-l` on Debian,
        `-M tab` on the fork, whose `-l` shortens labels."""
        return self.tsp(*(["-M", "tab"] if self.variant == "fork" else ["-l"])).stdout

    def block_queue(self) -> int:
        """Queue a job that holds the only slot, so the sweep's jobs stay queued."""
        return int(self.tsp("-N", str(SLOTS), "-L", "blocker", "sleep", "600").stdout)

    def started(self, num: int = 0, timeout: float = 120) -> dict[str, Any]:
        """Wait for job `num` (of any sweep in the sandbox) to start; its runner's marker."""
        found = eventually(
            lambda: list((self.root / "multirun").glob(f"**/.tsq/*/jobs/{num}.started.json")),
            f"job {num} to start",
            timeout=timeout,
        )
        return json.loads(found[0].read_text())

    def pid_of(self, ts_id: int) -> int:
        """The pid of a running ts job (ts answers 0 until it has started it; kill(0) would hit
        this very process group)."""
        return eventually(
            lambda: int(self.tsp("-p", str(ts_id)).stdout),
            f"ts job {ts_id} to start",
            until=lambda pid: pid > 0,
            timeout=10,
        )

    def kill_server(self) -> None:
        """Kill the ts server the way a crash or a reboot would lose it: `-K` forgets every job
        but leaves running ones alive, so those are killed too, once the server is gone (one
        that saw a running job end would first start the next queued one)."""
        running = [
            self.pid_of(int(line.split()[0]))
            for line in self.tsp("-l").stdout.splitlines()[1:]
            if line.split()[1:2] == ["running"]
        ]
        self.tsp("-K")
        # The server removes its socket as it exits.
        eventually(
            self.has_socket, "ts -K to remove the socket", until=lambda there: not there, timeout=10
        )
        for pid in running:
            with contextlib.suppress(ProcessLookupError):  # it may have ended meanwhile
                os.kill(pid, signal.SIGKILL)

    def has_socket(self) -> bool:
        """Does the ts socket exist, as this host sees it (host b has its own socket dir)?"""
        if not self.prefix:
            return Path(self.socket).exists()
        return subprocess.run([*self.prefix, "test", "-e", self.socket]).returncode == 0

    def release(self, blocker: int) -> None:
        self.tsp("-k", str(blocker))

    def stop_running_jobs(self) -> None:
        """`ts -K` leaves running jobs alive: stop them so no test leaks a process."""
        if not self.prefix and not Path(self.socket).exists():
            return
        for line in self.tsp("-l").stdout.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 1 and fields[1] == "running":
                subprocess.run(
                    [*self.prefix, self.binary, "-k", fields[0]],
                    env=self.env,
                    capture_output=True,
                    stdin=subprocess.DEVNULL,
                    check=False,
                )


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new SQLite store, made once per test process by `Store.open` (the real migrations).
    Each sandbox starts with a copy: the migrations cost half a second of CPU, in every test
    whose first launch would have made its store (tests of making one are `fresh_store`)."""
    from tsq.store import Store

    path = tmp_path_factory.mktemp("store-template") / "tsq.db"
    Store.open(path, create=True).close()
    return path


@pytest.fixture
def sandbox(
    ts_socket: str,
    ts_binary: str,
    ts_variant: str,
    tmp_path: Path,
    store_template: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Sandbox]:
    """A sandbox whose store exists already, empty; `@pytest.mark.fresh_store`: none yet."""
    box = Sandbox.create(tmp_path, ts_socket, ts_binary, ts_variant)
    if request.node.get_closest_marker("fresh_store") is None:
        box.store.parent.mkdir(mode=0o700)
        shutil.copy2(store_template, box.store)
    yield box
    box.stop_running_jobs()


@pytest.fixture
def slurm_sandbox(tmp_path: Path, slurm_cluster: Any, ts_socket: str) -> Sandbox:
    """A sandbox whose Slurm clients reach the test cluster (`slurm_cluster`, tests/slurm.py)."""
    box = Sandbox.create(tmp_path, ts_socket)
    box.env["SLURM_CONF"] = str(slurm_cluster.conf)
    return box


def by_num(jobs: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {job["num"]: job for job in jobs}


ReadOnly = Callable[[Path], Path]


@pytest.fixture
def read_only() -> Iterator[ReadOnly]:
    """Makes a directory read-only for real: a read-only bind mount over it. File modes would
    not do, since root (CI) writes through them."""
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root (CI runs as root)")
    mounted: list[Path] = []

    def make(directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for args in (["--bind"], ["-o", "remount,ro,bind"]):
            subprocess.run(["mount", *args, str(directory), str(directory)], check=True)
        mounted.append(directory)
        return directory

    yield make
    for directory in mounted:
        subprocess.run(["umount", str(directory)], check=True)


Tmpfs = Callable[[Path, str], Path]


@pytest.fixture
def tmpfs() -> Iterator[Tmpfs]:
    """Mounts a small tmpfs, to fill a disk for real. Needs root, as CI runs."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mounted: list[Path] = []

    def make(directory: Path, size: str) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tsq-test", str(directory)],
                       check=True)  # fmt: skip
        mounted.append(directory)
        return directory

    yield make
    for directory in mounted:
        subprocess.run(["umount", "-l", str(directory)], check=True)


def sweep_ids(sandbox: Sandbox) -> list[str]:
    """The ids of the sweeps in the sandbox's store, oldest first (none without a store)."""
    if not sandbox.store.exists():
        return []
    with sqlite3.connect(sandbox.store) as db:
        return [row[0] for row in db.execute("SELECT id FROM sweeps ORDER BY created_at")]


def ts_labels(sandbox: Sandbox) -> list[str]:
    """The labels of every job ts holds, whatever its state, sorted (ts lists by state)."""
    rows = sandbox.tsp("-l").stdout.splitlines()[1:]
    return sorted(row.split("[", 1)[1].split("]", 1)[0] for row in rows if "[" in row)


def refusal(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The one `tsq: ` line a refused command printed, checked to hold every fragment."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("tsq: ")]
    for fragment in fragments:
        assert fragment in line, line
    return line
