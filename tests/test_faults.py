"""Fault injection: after each fault, one `tsq status` leaves every record truthful."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweeps import ReadOnly, Sandbox, Tmpfs, by_num


def _server_pids(sandbox: Sandbox) -> list[int]:
    """The ts server of this sandbox: a daemon whose environment names its socket, and not the
    client that runs a job."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if (
            Path(cmdline[0].decode()).name in ("tsp", "ts")
            and f"TS_SOCKET={sandbox.socket}".encode() in environ
            and stat[1] == "1"  # a daemon: the server, or a job's runner client
            and b"--" not in cmdline  # not a runner: tsq queues every job after "--"
        ):
            pids.append(int(proc.name))
    return pids


@pytest.mark.parametrize("how", ["SIGKILL", "-K"])
def test_a_dead_server_loses_queued_jobs_but_running_ones_finish(
    sandbox: Sandbox, how: str
) -> None:
    sandbox.tsp("-S", "1")
    sandbox.sweep("x=1,2,3", "sleep=8")  # long enough to be seen running on a loaded machine
    sandbox.started(0)
    if how == "-K":
        sandbox.tsp("-K")
    else:
        pids = _server_pids(sandbox)
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)
    jobs = by_num(sandbox.status())
    assert jobs[0]["state"] == "running", "its process still runs: not lost"
    assert [jobs[n]["state"] for n in (1, 2)] == ["lost", "lost"]
    assert all("is gone" in jobs[n]["reason"] for n in (1, 2))
    deadline = time.monotonic() + 120
    while (job := sandbox.status()[0])["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert job["state"] == "completed", "its result arrived after ts was gone"


def test_segfault_fails_the_job_with_the_signal(sandbox: Sandbox) -> None:
    sandbox.sweep("+x=1", script="crash.py")
    job = sandbox.wait_terminal()[0]
    assert (job["state"], job["signal"]) == ("failed", 11)
    assert "killed by SIGSEGV before it wrote a result" in job["reason"]


def test_sigint_while_queueing_300_jobs_leaves_every_record_truthful(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    launcher = subprocess.Popen(
        [sys.executable, "app.py", "-m", "hydra/launcher=ts", "x=range(0,300)",
         f"hydra.sweep.dir={sandbox.root}/multirun/big"],
        cwd=sandbox.app_dir, env=sandbox.env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while len(sandbox.tsp("-l").stdout.splitlines()) < 40:
        assert time.monotonic() < deadline and launcher.poll() is None
        time.sleep(0.02)
    launcher.send_signal(signal.SIGINT)
    _, err = launcher.communicate(timeout=60)
    assert launcher.returncode == 1, "it was interrupted before queueing all 300"
    assert "Traceback" not in err
    line = next(line for line in err.splitlines() if "interrupted:" in line)
    assert "jobs of sweep" in line and "marked lost" in line and "python -m tsq status" in line

    jobs = sandbox.status()
    assert len(jobs) == 300 and sorted(j["num"] for j in jobs) == list(range(300))
    listed = {int(row.split()[0]): row for row in sandbox.tsp("-l").stdout.splitlines()[1:]}
    ours = {ts_id for ts_id, row in listed.items() if f"/{jobs[0]['sweep']}/" in row}
    recorded = {j["ts_id"] for j in jobs if j["state"] == "queued"}
    assert ours == recorded, "every job ts holds has its record, and the other way round"
    for job in jobs:
        if job["state"] == "queued":
            assert f"[{job['label']}]" in listed[job["ts_id"]]
        else:
            assert job["state"] == "lost" and "never" in job["reason"], job
    assert 0 < len(recorded) < 300
    sandbox.tsq("cancel", jobs[0]["sweep"])
    sandbox.release(blocker)


def test_unsafe_result_files_are_refused_not_unpickled(sandbox: Sandbox) -> None:
    sandbox.sweep("x=1,2,3")
    sandbox.wait_terminal()
    jobs_dir = next((sandbox.root / "multirun").glob("*/.tsq/*/jobs"))
    (jobs_dir / "0.pkl").chmod(0o620)
    os.chown(jobs_dir / "1.pkl", 65534, 65534)
    probe = (
        "import json, tsq\n"
        "print(json.dumps([str(r._return_value) if r.status.name == 'FAILED' else 'ok'"
        " for r in tsq.collect()]))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], env=sandbox.env, cwd=sandbox.root,
                          capture_output=True, text=True, check=True)  # fmt: skip
    got = json.loads(proc.stdout)
    assert "writable by group or others" in got[0] and "refusing to load" in got[0]
    assert "owned by uid 65534" in got[1]
    assert got[2] == "ok"


def test_many_processes_at_once_never_fail_and_record_every_job_once(sandbox: Sandbox) -> None:
    """8 processes run `status` in a loop and one `collect`, while 3 sweeps of 100 jobs launch
    at the same time and run."""
    stop = sandbox.root / "stop"
    poller = Path(__file__).parent / "poller.py"
    pollers = [
        subprocess.Popen([sys.executable, str(poller), str(stop), *args], env=sandbox.env,
                         stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        for args in [["status", "--json", "--all"]] * 8 + [["collect", "--json"]]
    ]  # fmt: skip
    launchers = [
        subprocess.Popen(
            [sys.executable, "noop.py", "-m", "hydra/launcher=ts", "+x=range(0,100)",
             f"hydra.sweep.dir={sandbox.root}/multirun/{n}"],
            cwd=sandbox.app_dir, env=sandbox.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for n in range(3)
    ]  # fmt: skip
    for launcher in launchers:
        _, err = launcher.communicate(timeout=300)
        assert launcher.returncode == 0, err
    jobs = sandbox.wait_terminal(timeout=400)
    stop.touch()
    reports = [json.loads(p.communicate(timeout=120)[0]) for p in pollers]
    assert [r["failures"] for r in reports] == [[]] * len(pollers)
    assert all(r["runs"] > 0 for r in reports)
    by_sweep: dict[str, list[int]] = {}
    for job in jobs:
        by_sweep.setdefault(job["sweep"], []).append(job["num"])
    assert sorted(map(sorted, by_sweep.values())) == [list(range(100))] * 3
    assert {j["state"] for j in jobs} == {"completed"}


def test_a_store_in_a_read_only_directory_is_one_clear_line(
    sandbox: Sandbox, read_only: ReadOnly
) -> None:
    directory = read_only(sandbox.root / "ro")
    for store in (directory / "tsq.db", directory / "sub" / "tsq.db"):
        status = subprocess.run([sys.executable, "-m", "tsq", "status", "--store", str(store)],
                                env=sandbox.env, capture_output=True, text=True)  # fmt: skip
        assert status.returncode == 2 and "Traceback" not in status.stderr
        assert status.stderr.count("\n") == 1 and str(store.parent) in status.stderr
        launch = sandbox.sweep("x=1", check=False, env={"TSQ_STORE": str(store)})
        assert launch.returncode == 1 and "Traceback" not in launch.stderr
        assert str(store.parent) in launch.stderr
    assert sandbox.tsp("-l").stdout.splitlines()[1:] == [], "nothing queued"


def test_a_full_disk_for_the_spec_is_one_line_and_queues_nothing(
    sandbox: Sandbox, tmpfs: Tmpfs
) -> None:
    tiny = tmpfs(sandbox.root / "tiny", "48k")
    proc = sandbox.run(
        [sys.executable, "app.py", "-m", "hydra/launcher=ts", "x=range(0,30)",
         f"hydra.sweep.dir={tiny}/sweep"],
        check=False,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = next(line for line in proc.stderr.splitlines() if "tsq:" in line)
    assert "cannot write the job spec" in line and "No space left on device" in line
    assert sandbox.tsp("-l").stdout.splitlines()[1:] == [], "nothing queued"
    assert sandbox.status() == [], "nothing recorded"


def test_a_store_that_fails_after_queueing_says_the_jobs_will_run(
    sandbox: Sandbox, tmpfs: Tmpfs
) -> None:
    """The store's disk fills up while the jobs are being queued (a ts wrapper fills it at the
    first submission): the jobs run, the message says so, and status finds them later."""
    disk = tmpfs(sandbox.root / "storedisk", "2m")
    wrapper = sandbox.root / "tsp-filling"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *" -- "*) [ -e {sandbox.root}/filled ] || {{ touch {sandbox.root}/filled;'
        f" dd if=/dev/zero of={disk}/fill bs=64k 2>/dev/null; }};; esac\n"
        f'exec {shutil.which("tsp")} "$@"\n'
    )
    wrapper.chmod(0o755)
    store = disk / "tsq.db"
    proc = sandbox.sweep("x=1,2,3", f"hydra.launcher.binary={wrapper}", check=False,
                         env={"TSQ_STORE": str(store)})  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = next(line for line in proc.stderr.splitlines() if "tsq:" in line)
    assert "3 jobs of sweep" in line and "are queued in task-spooler and will run" in line
    assert "Do not launch them again" in line and "finds them by their labels" in line
    (disk / "fill").unlink()

    def status() -> list[dict]:
        argv = [sys.executable, "-m", "tsq", "status", "--json", "--store", str(store)]
        return json.loads(sandbox.run(argv).stdout)

    jobs = status()
    assert [j["ts_id"] is not None for j in jobs] == [True] * 3, "found in ts by their labels"
    deadline = time.monotonic() + 90
    while {j["state"] for j in jobs} != {"completed"}:
        assert time.monotonic() < deadline, jobs
        time.sleep(0.3)
        jobs = status()
