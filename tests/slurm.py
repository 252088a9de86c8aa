"""`slurm_cluster`: a real one-node Slurm (scripts/slurm.sh) for the tests that need one.

It uses the cluster when it is up, else starts it (with accounting unless TSQ_SLURM_ACCOUNTING=0)
under a file lock, since the two xdist workers may both get there first. It skips only when the
cluster cannot be started (not root and no Slurm, no apt, a start that fails), saying why. Tests
tag their jobs with `cluster.job_name(...)` (unique per worker and test) and teardown cancels
only the jobs carrying this session's tag, never anyone else's.

The cluster is shared by every xdist worker (and by any other pytest session on the machine), so
a test that stops its controller (`controller_down`) would fail the launches of tests running
beside it. Every test that uses the cluster holds its use lock shared for its whole run; an
outage takes it exclusive, so it waits for the tests running beside it to end, and they for it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from eventually import eventually
from filelock import FileLock
from procs import alive

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "slurm.sh"
DIR = Path(os.environ.get("TSQ_SLURM_DIR", "/tmp/tsq-slurm"))
CONF = DIR / "slurm.conf"
USE_LOCK = DIR / "tests-use.lock"  # shared while a test uses the cluster, exclusive for an outage
START_TIMEOUT = 600  # an apt-get install on a busy machine, behind another worker's lock


@dataclass
class SlurmCluster:
    """A running cluster: its SLURM_CONF, whether sacct works, a tag for this session's jobs,
    and its MaxArraySize (scripts/slurm.sh sets 50: a 120-job sweep takes three arrays)."""

    conf: Path
    accounting: bool
    tag: str
    env: dict[str, str] = field(repr=False)
    max_array_size: int = 1001
    use: int | None = field(default=None, repr=False)  # the use lock, while a test runs

    def job_name(self, what: str) -> str:
        """A job name no other worker or test run uses: `tsq-test-<tag>-<what>`."""
        return f"tsq-test-{self.tag}-{what}"

    def run(
        self, *argv: str, timeout: float = 30, check: bool = True
    ) -> subprocess.CompletedProcess:
        """A Slurm client, bounded in time (clients retry forever when the controller is down)."""
        return subprocess.run(
            argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def poll(self, what: str, probe: Callable[[], object], timeout: float = 60) -> object:
        """Call `probe` until it returns something truthy; fail naming `what` at the deadline.
        Its Slurm clients cost CPU: the pace slows from 0.1 s to 1 s."""
        return eventually(probe, what, timeout=timeout, interval=0.1, max_interval=1.0)

    @contextmanager
    def controller_down(self) -> Iterator[None]:
        """slurmctld stopped (SIGTERM: it saves its state; running jobs run on under slurmd)
        for the body, then started again and answering. Killed daemons stay zombies here
        (PID 1 does not reap), so "stopped" is read from /proc, not `kill -0`."""
        assert self.use is not None, "controller_down runs inside a test that uses the cluster"
        fcntl.flock(self.use, fcntl.LOCK_UN)  # from shared to exclusive: not atomic, and
        fcntl.flock(self.use, fcntl.LOCK_EX)  # need not be (nothing was changed meanwhile)
        try:
            with self._stopped():
                yield
        finally:
            fcntl.flock(self.use, fcntl.LOCK_SH)

    @contextmanager
    def _stopped(self) -> Iterator[None]:
        pidfile = DIR / "run" / "slurmctld.pid"
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
        self.poll("slurmctld to stop", lambda: not alive(pid), timeout=30)
        try:
            yield
        finally:
            subprocess.run(["/usr/sbin/slurmctld", "-f", str(self.conf)], env=self.env, check=True)
            self.poll(
                "slurmctld to answer again",
                lambda: "UP" in self.run("scontrol", "ping", check=False, timeout=10).stdout,
            )


def _status(env: dict[str, str]) -> bool:
    try:
        done = subprocess.run(
            ["bash", str(SCRIPT), "status"], env=env, capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def _start(env: dict[str, str]) -> str | None:
    """Start the cluster; None when it is up, else why it cannot be."""
    if os.geteuid() != 0 and shutil.which("slurmctld") is None:
        return "Slurm is not installed and installing it needs root"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "Slurm is not installed and there is no apt-get to install it"
    argv = ["bash", str(SCRIPT), "start"]
    if os.environ.get("TSQ_SLURM_ACCOUNTING", "1") != "0":
        argv.append("--accounting")
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"`{' '.join(argv[1:])}` took over {START_TIMEOUT} s"
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        return f"`{' '.join(argv[1:])}` failed ({done.returncode}):\n{tail}"
    return None


@pytest.fixture
def slurm_cluster(slurm_session: SlurmCluster) -> Iterator[SlurmCluster]:
    """The cluster, for one test: its use lock held shared for the test's run."""
    with open(USE_LOCK, "a+b") as use:
        fcntl.flock(use, fcntl.LOCK_SH)
        slurm_session.use = use.fileno()
        try:
            yield slurm_session
        finally:
            slurm_session.use = None
            fcntl.flock(use, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def slurm_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    env = {**os.environ, "SLURM_CONF": str(CONF), "TSQ_SLURM_DIR": str(DIR)}
    # One lock for every xdist worker: the directory pytest shares between them.
    shared = tmp_path_factory.getbasetemp().parent
    with FileLock(str(shared / "tsq-slurm-start.lock"), timeout=START_TIMEOUT + 60):
        if not _status(env):
            why = _start(env)
            if why is not None:
                pytest.skip(f"no Slurm cluster: {why}")
    os.environ["SLURM_CONF"] = str(CONF)  # for code under test that runs Slurm's clients
    config = subprocess.run(
        ["scontrol", "show", "config"], env=env, capture_output=True, text=True, timeout=30
    ).stdout
    accounting = "accounting_storage/slurmdbd" in config
    found = re.search(r"^MaxArraySize\s*=\s*(\d+)", config, re.M)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    tag = f"{worker}-{uuid.uuid4().hex[:8]}"
    cluster = SlurmCluster(CONF, accounting, tag, env, int(found.group(1)) if found else 1001)
    yield cluster
    # Cancel only this session's jobs (by name), whatever state they were left in.
    listing = cluster.run("squeue", "-h", "-o", "%A|%j", check=False, timeout=30).stdout
    own = [
        line.split("|", 1)[0]
        for line in listing.splitlines()
        if "|" in line and line.split("|", 1)[1].startswith(cluster.job_name(""))
    ]
    if own:
        cluster.run("scancel", *own, check=False, timeout=30)
