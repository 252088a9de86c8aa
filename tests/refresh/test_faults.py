"""Fault injection: after each fault, one `tsq status` leaves every record truthful."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from eventually import eventually
from procs import children
from sweeps import SLOTS, ReadOnly, Sandbox, Tmpfs, by_num, debian_only

from tsq.backends.tsclient import server_id


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
    job = eventually(
        lambda: sandbox.status()[0],
        "job 0 to end",
        until=lambda job: job["state"] != "running",
        timeout=120,
        interval=0.2,
    )
    assert job["state"] == "completed", "its result arrived after ts was gone"


def test_segfault_fails_the_job_with_the_signal(sandbox: Sandbox) -> None:
    sandbox.sweep("+x=1", script="crash.py")
    job = sandbox.wait_terminal()[0]
    assert (job["state"], job["signal"]) == ("failed", 11)
    assert "killed by SIGSEGV before it wrote a result" in job["reason"]


def test_every_way_a_job_ends_is_recorded_truly(sandbox: Sandbox) -> None:
    """The issue's end-to-end check, on both variants: behind a blocker, a sweep whose jobs
    return, raise, `os._exit(7)`, are SIGKILLed while running, are cancelled while queued and
    while running: one refresh afterwards, and every record says what happened."""
    blocker = sandbox.block_queue()
    sandbox.sweep("+mode=ok,raise,exit7,sleep,ok,sleep", script="mixed.py")
    sweep = sandbox.status()[0]["sweep"]
    sandbox.tsq("cancel", f"{sweep}:4")  # still queued behind the blocker
    sandbox.release(blocker)
    os.kill(sandbox.started(3)["pid"], signal.SIGKILL)
    sandbox.started(5)
    sandbox.tsq("cancel", f"{sweep}:5")  # running
    jobs = by_num(sandbox.wait_terminal())
    assert (jobs[0]["state"], jobs[0]["exit_code"]) == ("completed", 0)
    assert jobs[1]["state"] == "failed" and "ValueError: the task raised" in jobs[1]["reason"]
    assert (jobs[2]["state"], jobs[2]["exit_code"]) == ("failed", 7)
    assert (jobs[3]["state"], jobs[3]["signal"]) == ("failed", 9)
    assert "killed by SIGKILL" in jobs[3]["reason"]
    assert [jobs[n]["state"] for n in (4, 5)] == ["cancelled", "cancelled"]
    assert not list((sandbox.root / "multirun").glob("*/.tsq/*/jobs/4.started.json"))
    assert {j["state"] for j in sandbox.status()} == {"completed", "failed", "cancelled"}


def _rows_while_launching(sandbox: Sandbox, launcher: subprocess.Popen[str], rows: int) -> None:
    """Until ts lists `rows` lines (its header included); the launcher must still be queueing."""

    def listed() -> int:
        assert launcher.poll() is None, f"the launcher ended: {launcher.communicate()}"
        return len(sandbox.tsp("-l").stdout.splitlines())

    eventually(
        listed, f"{rows} lines in ts's list", until=lambda n: n >= rows, timeout=240, interval=0.02
    )


def _label(argv: list[str]) -> str:
    """The label a ts client's command line gives its job (`-L LABEL`); "" when none."""
    return argv[argv.index("-L") + 1] if "-L" in argv[:-1] else ""


def _launch_in_background(sandbox: Sandbox, *overrides: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "app.py", "-m", "hydra/launcher=ts", *overrides,
         f"hydra.sweep.dir={sandbox.root}/multirun/background"],
        cwd=sandbox.app_dir, env=sandbox.env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_job_held_back_by_the_connection_limit_is_not_judged_from_its_absence(
    sandbox: Sandbox,
) -> None:
    """ts lists no job whose client it holds back for want of connections (TS_MAXCONN=8: it
    takes 2 unfinished jobs, measured on both variants, so the sweep's 2nd job is held). Such
    a client gets no id until the server takes its job, and the launcher holds its lease
    meanwhile: `status` leaves the job queued, never lost or cancelled, and it runs once the
    queue has room."""
    sandbox.tsp("-K")
    # A client started before the server has gone would reach the dying one (exit 255).
    eventually(sandbox.has_socket, "ts -K to remove the socket", until=lambda there: not there)
    subprocess.run([sandbox.binary, "-S", "2"], env={**sandbox.env, "TS_MAXCONN": "8"},
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)  # fmt: skip
    blocker = sandbox.block_queue()
    launcher = _launch_in_background(sandbox, "x=1,2")

    def listed() -> int:
        return sum(1 for line in sandbox.listing().splitlines() if "[app/" in line)

    def second_client() -> list[list[str]]:
        assert launcher.poll() is None, f"the launcher ended: {launcher.communicate()}"
        return [argv for argv in children(launcher.pid) if _label(argv).endswith("/1")]

    # Job 0 is listed, job 1's client runs: the server holds it back.
    eventually(lambda: listed() and second_client(), "job 1's ts client", interval=0.2)
    jobs = sandbox.status()
    assert launcher.poll() is None, "the launcher waits for the server to take the 2nd job"
    assert listed() == 1, "the held job is in no listing"
    assert [j["state"] for j in jobs] == ["queued", "queued"], jobs
    sandbox.release(blocker)  # within tsq's 30 s per ts call: a client held longer fails
    _, err = launcher.communicate(timeout=60)
    assert launcher.returncode == 0, err
    assert {j["state"] for j in sandbox.wait_terminal()} == {"completed"}


@debian_only  # heavy (300 jobs), so once: the rules it checks do not depend on the variant
def test_sigint_while_queueing_300_jobs_leaves_every_record_truthful(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    launcher = _launch_in_background(sandbox, "x=range(0,300)")
    _rows_while_launching(sandbox, launcher, 40)
    launcher.send_signal(signal.SIGINT)
    _, err = launcher.communicate(timeout=60)
    assert launcher.returncode == 1, "it was interrupted before queueing all 300"
    assert "Traceback" not in err
    line = next(line for line in err.splitlines() if "interrupted:" in line)
    assert "jobs of sweep" in line and "marked lost" in line and "python -m tsq status" in line

    jobs = sandbox.status()
    assert len(jobs) == 300 and sorted(j["num"] for j in jobs) == list(range(300))
    listed = {int(row.split()[0]): row for row in sandbox.tsp("-l").stdout.splitlines()[1:]}
    ours = {queue_id for queue_id, row in listed.items() if f"/{jobs[0]['sweep']}/" in row}
    recorded = {j["queue_id"] for j in jobs if j["state"] == "queued"}
    assert ours == recorded, "every job ts holds has its record, and the other way round"
    for job in jobs:
        if job["state"] == "queued":
            assert f"[{job['label']}]" in listed[job["queue_id"]]
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
    assert "owned by" in got[1] and "(uid 65534), not by you" in got[1]
    assert got[2] == "ok"


@debian_only  # the heaviest test of the suite (150 jobs, 9 pollers): once keeps CI in budget
@pytest.mark.fresh_store  # the launchers and pollers also race to make the store
def test_many_processes_at_once_never_fail_and_record_every_job_once(sandbox: Sandbox) -> None:
    """8 processes run `status` in a loop and one `collect`, while 3 sweeps of 50 jobs launch
    at the same time and run."""
    stop = sandbox.root / "stop"
    poller = Path(__file__).parents[1] / "poller.py"
    pollers = [
        subprocess.Popen([sys.executable, str(poller), str(stop), *args], env=sandbox.env,
                         stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        for args in [["status", "--json", "--all"]] * 8 + [["collect", "--json"]]
    ]  # fmt: skip
    launchers = [
        subprocess.Popen(
            [sys.executable, "noop.py", "-m", "hydra/launcher=ts", "+x=range(0,50)",
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
    assert sorted(map(sorted, by_sweep.values())) == [list(range(50))] * 3
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
        f'exec {sandbox.binary} "$@"\n'
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
    assert [j["queue_id"] is not None for j in jobs] == [True] * 3, "found in ts by their labels"
    eventually(
        status,
        "every job to complete",
        until=lambda jobs: {j["state"] for j in jobs} == {"completed"},
        timeout=90,
        interval=0.3,
    )


def test_a_job_whose_python_could_not_start_then_forgotten_is_not_taken_for_removed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Its virtualenv was deleted while it was queued: ts ran its command, which could not
    start Python (so no `started` record), then ts forgot it (`tsp -C`). Nothing removed it
    from the queue: it is lost, with what is known, never `cancelled`."""
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    [site] = list(venv.glob("lib/python*/site-packages"))
    (site / "tests.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
    )
    blocker = sandbox.block_queue()
    sandbox.run([str(venv / "bin" / "python"), "noop.py", "-m", "hydra/launcher=ts",
                 f"hydra.sweep.dir={sandbox.root}/multirun/s", "+x=1"])  # fmt: skip
    [job] = sandbox.status()
    subprocess.run(["rm", "-rf", str(venv)], check=True)
    sandbox.release(blocker)
    eventually(
        lambda: [line.split()[:2] for line in sandbox.tsp("-l").stdout.splitlines()],
        "ts to run the job",
        until=lambda rows: [str(job["queue_id"]), "finished"] in rows,
    )
    sandbox.tsp("-C")
    [job] = sandbox.status()
    assert job["state"] == "lost", job
    assert "ended before tsq's runner started in it" in job["reason"]


def _server_killed_mid_launch(sandbox: Sandbox) -> tuple[int, str, list[dict]]:
    """Launch 120 jobs behind a blocker and kill the ts server (`-K`) once 30 are queued;
    the launch's exit status, its stderr and its sweep's jobs, refreshed."""
    sandbox.tsp("-S", str(SLOTS))  # a new server, after a launch that stopped, has one slot
    blocker = sandbox.block_queue()
    blocker_pid = sandbox.pid_of(blocker)
    launcher = _launch_in_background(sandbox, "x=range(0,120)")
    _rows_while_launching(sandbox, launcher, 30)
    old = server_id(sandbox.socket)
    sandbox.tsp("-K")
    # Then it starts no queued job as the blocker ends.
    eventually(
        lambda: server_id(sandbox.socket), "ts -K to stop the server", until=lambda now: now != old
    )
    os.kill(blocker_pid, signal.SIGKILL)  # -K leaves running jobs alive
    _, err = launcher.communicate(timeout=120)
    newest = sandbox.status()[0]["sweep"]
    return launcher.returncode, err, [j for j in sandbox.status() if j["sweep"] == newest]


def test_a_server_killed_during_a_launch_loses_the_jobs_it_held_and_the_launch_says_so(
    sandbox: Sandbox,
) -> None:
    """`tsp -K` after some jobs of a launch were queued: the launch's next ts client starts a
    new server, which gets the rest. Each job records the server it went to: those of the old
    one are lost ("was restarted"), never "removed before it started"; the others run. The
    ts client queueing a job as the server dies may fail, which stops the launch (the rest are
    "never submitted"): every record is true then too, and the scenario is run again (at most
    four times) until a launch goes on past the restart."""
    for _ in range(4):
        code, err, jobs = _server_killed_mid_launch(sandbox)
        lost = [j for j in jobs if j["state"] == "lost"]
        assert lost and not [j for j in jobs if j["state"] == "cancelled"], jobs
        if code == 0:
            break
        assert "Traceback" not in err and "marked lost" in err, err
        for job in lost:
            assert any(why in job["reason"] for why in ("is gone", "was restarted", "never")), job
        sandbox.tsq("cancel", jobs[0]["sweep"])
    assert code == 0, "no launch went on past the server's restart"
    unsure = [j for j in lost if "was restarted" not in j["reason"]]
    assert len(unsure) <= 1, "only the job queued as it died went to either server"
    assert all("no longer lists" in j["reason"] for j in unsure), unsure
    assert len(lost) < 120 and "was restarted while this batch was queued" in err, err
    nums = sorted(j["num"] for j in lost)
    assert nums == list(range(len(nums))), "the first jobs, queued before the restart"
    sandbox.tsq("cancel", jobs[0]["sweep"])
