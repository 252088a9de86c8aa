"""Two hosts sharing one store and one sweep dir, each with its own task-spooler.

Host "b" runs its commands (and so its ts server and jobs) in a mount namespace of its own, with a
private tmpfs over the ts socket's directory: the same socket path names a different server on
each host, as `/tmp/socket-ts.0` does on two real machines. Host "a" is this test process and its
subprocesses. They tell themselves apart with `TSQ_HOST`, sharing one hostname, as containers do.
Only the host that queued a job may ask its queue: any other judges it from its files only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventually import eventually
from sweeps import SLOTS, Sandbox, by_num

from tsq.refresh.update import refresh
from tsq.store import Store

Hosts = tuple[Sandbox, Sandbox]


def _namespace_of(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/mnt")


@pytest.fixture
def hosts(ts_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hosts]:
    """(a, b): host a is this process (TSQ_HOST=a), host b a mount namespace of its own."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        pytest.skip("playing a second host needs root, unshare and nsenter (CI runs as root)")
    monkeypatch.setenv("TSQ_HOST", "a")
    a = Sandbox.create(tmp_path, ts_socket).as_host("a")
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "600"])
    eventually(
        lambda: _namespace_of(holder.pid) != _namespace_of(os.getpid()),
        "unshare to make a mount namespace",
        timeout=10,
        interval=0.01,
    )
    # nsenter's working directory would be b's root: b works in the app's dir, as a does.
    prefix = ("nsenter", "-t", str(holder.pid), "-m", f"--wd={a.app_dir}", "--")
    socket_dir = os.path.dirname(ts_socket)  # also TMPDIR: ts's output files stay on b
    subprocess.run([*prefix, "mount", "-t", "tmpfs", "tsq-host-b", socket_dir], check=True)
    b = a.as_host("b", prefix=prefix)
    b.tsp("-S", str(SLOTS))
    try:
        yield a, b
    finally:
        b.stop_running_jobs()
        subprocess.run([*prefix, shutil.which("tsp") or "ts", "-K"], env=b.env,
                       capture_output=True, check=False)  # fmt: skip
        holder.kill()
        holder.wait()
        a.stop_running_jobs()


def sweep_id(launch: subprocess.CompletedProcess[str]) -> str:
    return launch.stdout.split(" of sweep ", 1)[1].split()[0]


def states(jobs: list[dict]) -> dict[int, str]:
    return {num: job["state"] for num, job in by_num(jobs).items()}


def test_a_sweep_launched_on_b_completes_while_a_polls(hosts: Hosts) -> None:
    """A refreshes in a loop while B launches, then `tsq wait`s on A: B's jobs end completed,
    seen from their files alone, never lost (A's own ts server, on the same socket path,
    knows none of them). `logs` on A shows the shared files and says where the rest is."""
    a, b = hosts
    launch = subprocess.Popen(
        [*b.prefix, sys.executable, "app.py", "-m", "hydra/launcher=ts",
         f"hydra.sweep.dir={b.root}/multirun/b", "x=1,2,3,4,5,6"],
        cwd=b.app_dir, env=b.env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    store = Store.open(a.store, create=True)  # racing B's launch to make it
    warnings: set[str] = set()

    def refreshed_until_launched() -> bool:
        warnings.update(refresh(store).messages())
        return launch.poll() is not None

    eventually(refreshed_until_launched, "B's launch to end", timeout=240)
    _, err = launch.communicate()
    assert launch.returncode == 0, err
    [sweep] = store.sweeps()
    assert sweep.hostname == "b"
    assert {job.host for job in store.jobs([sweep.id])} == {"b"}
    store.close()
    waited = a.tsq("wait", sweep.id, "--timeout", "240", check=False)
    assert waited.returncode == 0, waited.stderr
    assert waited.stderr.count("not checked from here") <= 1, "said once, not once per job"
    assert set(states(a.status()).values()) == {"completed"}
    assert any("on host b" in w for w in warnings), warnings
    logs = a.tsq("logs", f"{sweep.id}:0")
    assert "==> Hydra job log" in logs.stdout, logs.stdout
    assert f"the job ran on host b: `tsq logs {sweep.id}:0` there" in logs.stdout


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_each_host_alone_decides_that_its_jobs_are_lost(
    hosts: Hosts, engine: str, request: pytest.FixtureRequest
) -> None:
    """Both ts servers die with jobs queued. A's refresh marks A's jobs lost and leaves B's as
    they are, saying so; B's refresh marks B's lost. `cancel` and `retry` of B's sweep on A
    refuse, naming b."""
    a, b = hosts
    if engine == "postgresql":
        url = request.getfixturevalue("pg_database").url
        a.env["TSQ_STORE"] = b.env["TSQ_STORE"] = url
    for host in (a, b):
        host.block_queue()
    on_a = sweep_id(a.sweep("x=1,2"))
    on_b = sweep_id(b.sweep("x=1,2"))
    for host in (a, b):
        host.kill_server()

    def by_sweep(jobs: list[dict]) -> dict[str, list[str]]:
        return {s: [j["state"] for j in jobs if j["sweep"] == s] for s in (on_a, on_b)}

    jobs = a.status()
    assert by_sweep(jobs) == {on_a: ["lost"] * 2, on_b: ["queued"] * 2}, jobs
    seen_from_a = a.tsq("status", "--all")
    assert "2 unfinished jobs not checked from here (2 on host b)" in seen_from_a.stderr, [
        (j["sweep"], j["num"], j["state"], j["reason"]) for j in a.status()
    ]
    assert "host: b (not this host" in seen_from_a.stdout

    for command in (["cancel", on_b], ["cancel", f"{on_b}:1"]):
        refused = a.tsq(*command, check=False)
        assert refused.returncode == 2, refused
        assert "was queued on host b, whose queue this host (a) cannot reach" in refused.stderr
        assert f"run `tsq {' '.join(command)}` on b" in refused.stderr
    assert by_sweep(a.status()) == {on_a: ["lost"] * 2, on_b: ["queued"] * 2}

    jobs = b.status()
    assert by_sweep(jobs) == {on_a: ["lost"] * 2, on_b: ["lost"] * 2}, jobs
    assert {j["sweep"]: j["host"] for j in jobs} == {on_a: "a", on_b: "b"}
    b_reasons = {j["reason"] for j in jobs if j["sweep"] == on_b}
    assert all(f"ts server on {b.socket}" in r for r in b_reasons), b_reasons
    refused = a.tsq("retry", on_b, check=False)
    assert refused.returncode == 2
    assert f"sweep {on_b} was queued on host b" in refused.stderr
    assert json.loads(b.tsq("status", on_b, "--json").stdout)[0]["state"] == "lost"
