"""Another local user on the machine: their dirs, files and ts server are refused (issue 30).

Each test makes a throwaway user (`useradd`, removed afterwards) and runs that user's part as
that user (`runuser`); tsq itself runs as root, as in CI, which passes every permission check:
only the owner checks against the effective uid stand between it and the other user's files.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sweeps import Sandbox, by_num, debian_only, refusal, sweep_ids, ts_labels


@dataclass(frozen=True)
class OtherUser:
    name: str

    def run(self, *argv: str, env: dict[str, str] | None = None) -> None:
        subprocess.run(
            ["runuser", "-u", self.name, "--", "env", *[f"{k}={v}" for k, v in (env or {}).items()],
             *argv],
            check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
        )  # fmt: skip

    def write(self, path: Path, text: str) -> None:
        """Leave `path` as this user would: created by them, 0644."""
        self.run("sh", "-c", 'umask 022 && printf %s "$1" > "$0"', str(path), text)


@pytest.fixture
def other_user() -> Iterator[OtherUser]:
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to make a second user")
    name = f"tsqo{secrets.token_hex(3)}"
    made = subprocess.run(["useradd", "--no-create-home", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot create a user: {made.stderr.strip()}")
    try:
        yield OtherUser(name)
    finally:
        subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)  # their ts server
        subprocess.run(["userdel", name], capture_output=True, check=True)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A dir every user may create files in, like /tmp (1777)."""
    path = Path(tempfile.mkdtemp(prefix="tsq-shared-", dir="/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def launch_into(sandbox: Sandbox, sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    return sandbox.run(
        [sys.executable, "app.py", "-m", "hydra/launcher=ts", f"hydra.sweep.dir={sweep_dir}",
         "x=1,2", *overrides],
        check=False,
    )  # fmt: skip


# --- item 5: another user's sweep dir, spool dir and files ---


@pytest.mark.parametrize("made_by_them", ["sweep dir", ".tsq", "none, but open to all"])
def test_a_sweep_dir_another_user_can_change_is_refused_before_anything_is_queued(
    sandbox: Sandbox, other_user: OtherUser, shared_dir: Path, made_by_them: str
) -> None:
    sweep_dir = shared_dir / "multirun"
    if made_by_them == "sweep dir":  # they made it first, as the user's own config names it
        other_user.run("mkdir", "-m", "777", str(sweep_dir))
        refused, owner = sweep_dir, other_user.name
    elif made_by_them == ".tsq":  # ours, sticky like /tmp, but they made tsq's dir in it first
        sweep_dir.mkdir(mode=0o1777)
        sweep_dir.chmod(0o1777)
        other_user.run("mkdir", "-m", "700", str(sweep_dir / ".tsq"))
        refused, owner = sweep_dir / ".tsq", other_user.name
    else:  # ours, but anyone may rename what is in it
        sweep_dir.mkdir()
        sweep_dir.chmod(0o777)
        refused, owner = sweep_dir, "without the sticky bit"
    proc = launch_into(sandbox, sweep_dir)
    refusal(proc, f"refusing {refused}:", owner, "hydra.sweep.dir")
    assert sweep_ids(sandbox) == [] and ts_labels(sandbox) == []
    if made_by_them == "sweep dir":
        assert not (sweep_dir / ".tsq").exists(), "nothing made in their dir"


SUMMARY = {
    "status": "completed", "exit_code": 0, "error": None, "traceback": None,
    "return_value": "theirs", "started_at": 1.0, "ended_at": 2.0, "output_dir": None,
    "working_dir": None, "task_name": "app",
}  # fmt: skip


@debian_only
def test_files_another_user_left_in_a_spool_dir_decide_nothing(
    sandbox: Sandbox, other_user: OtherUser, shared_dir: Path
) -> None:
    """The jobs dir was open to all for a while (a chmod by mistake): the other user left a
    result for job 0 and a `started` record for job 1 there. Neither is believed, then or once
    the dir is private again; the jobs end as they really do, both completed."""
    blocker = sandbox.block_queue()
    sweep_dir = shared_dir / "multirun"
    assert launch_into(sandbox, sweep_dir).returncode == 0
    (jobs_dir,) = sweep_dir.glob(".tsq/*/jobs")
    sweep_dir.chmod(0o755)  # the path to the jobs dir, for them
    for path in (jobs_dir.parent, jobs_dir.parents[1]):
        path.chmod(0o711)
    jobs_dir.chmod(0o777)
    other_user.write(jobs_dir / "0.json", json.dumps(SUMMARY))
    other_user.write(jobs_dir / "1.started.json", json.dumps({"pid": 1, "started_at": 1.0}))

    proc = sandbox.tsq("status", "--all", "--json")
    assert f"refusing {jobs_dir}: it is writable by group or others (mode 777)" in proc.stderr
    assert [job["state"] for job in json.loads(proc.stdout)] == ["queued", "queued"]

    for path in (jobs_dir, jobs_dir.parent, jobs_dir.parents[1]):
        path.chmod(0o700)
    proc = sandbox.tsq("status", "--all", "--json")
    assert f"refusing to load {jobs_dir / '0.json'}: it is owned by {other_user.name}" in (
        proc.stderr
    )
    assert f"{jobs_dir / '1.started.json'}: it is owned by {other_user.name}" in proc.stderr
    assert [job["state"] for job in json.loads(proc.stdout)] == ["queued", "queued"]

    sandbox.release(blocker)
    jobs = by_num(sandbox.wait_terminal())
    assert [jobs[n]["state"] for n in (0, 1)] == ["completed", "completed"], jobs


def test_a_barrier_runs_nothing_from_a_watch_list_another_user_wrote(
    sandbox: Sandbox, other_user: OtherUser, shared_dir: Path
) -> None:
    """`depends_on=sweep:` queues `python -m tsq.barrier after-<id>.json`; the list names the
    ts binary the barrier runs. Another user's list is refused: their program never runs as us."""
    ran = shared_dir / "ran"
    program = shared_dir / "their-ts"
    other_user.write(program, f"#!/bin/sh\ntouch {ran}\n")
    program.chmod(0o755)
    watch = {
        "sweep": "0123abcd",
        "backend": {"backend": "ts", "ts_binary": str(program), "ts_socket": sandbox.socket},
        "jobs": [{"num": 0, "label": "app/0123abcd/0", "result": str(shared_dir / "0.json")}],
    }
    listing = shared_dir / "after-0123abcd.json"
    other_user.write(listing, json.dumps(watch))
    proc = sandbox.run([sys.executable, "-m", "tsq.barrier", str(listing)], check=False)
    assert proc.returncode == 2, proc
    assert f"refusing to load {listing}: it is owned by {other_user.name}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not ran.exists(), "their program ran as us"


# --- item 6: another user's ts server on our socket ---


@debian_only
def test_another_users_ts_server_on_our_socket_is_refused_and_decides_nothing(
    sandbox: Sandbox, other_user: OtherUser, shared_dir: Path
) -> None:
    """Our ts server on a socket in a shared dir (like ts's default, /tmp/socket-ts.<uid>)
    is gone; another user starts theirs on the same path. `status` and `cancel` say so and
    decide nothing from it (before, its empty queue made our queued jobs `lost`), and a launch
    is refused before anything is queued there."""
    socket = str(shared_dir / "socket-ts.0")
    box = replace(sandbox, socket=socket, env={**sandbox.env, "TS_SOCKET": socket})
    box.block_queue()
    box.sweep("x=1,2")
    (sweep_id,) = sweep_ids(box)
    box.kill_server()
    theirs = {"TS_SOCKET": socket}
    other_user.run(box.binary, "-S", "1", env=theirs)  # starts their server
    try:
        proc = box.tsq("status", "--all", "--json")
        assert f"the task-spooler server on {socket} is owned by {other_user.name}" in proc.stderr
        assert [job["state"] for job in json.loads(proc.stdout)] == ["queued", "queued"]

        proc = box.tsq("cancel", sweep_id, check=False)
        assert f"is owned by {other_user.name}" in proc.stdout + proc.stderr, proc
        assert "Traceback" not in proc.stderr

        refusal(launch_into(box, box.root / "multirun" / "again"), socket, other_user.name)
        assert sweep_ids(box) == [sweep_id]
        listed = subprocess.run(
            ["runuser", "-u", other_user.name, "--", "env", f"TS_SOCKET={socket}", box.binary,
             "-l"], capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert listed.splitlines()[1:] == [], "nothing queued in their server"
    finally:
        other_user.run(box.binary, "-K", env=theirs)
