"""Spooler against the real task-spooler binary, each test on its own private server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from eventually import eventually
from sweeps import fork_only

from tsq.backends.tsclient import Spooler, default_socket
from tsq.backends.tslist import TsInfo
from tsq.errors import BackendError


def ts(spooler: Spooler, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ts directly, for what Spooler deliberately does not offer (-w, -K, raw -i)."""
    return subprocess.run(
        [spooler.binary, *args],
        env={**os.environ, "TS_SOCKET": spooler.socket},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def test_detect_finds_task_spooler(spooler: Spooler, ts_socket: str) -> None:
    assert os.path.isabs(spooler.binary)
    assert Path(spooler.binary).name in {"tsp", "ts"}
    assert spooler.socket == ts_socket
    assert spooler.version[0].isdigit()
    assert spooler.variant in {"task-spooler", "gpu-task-spooler"}
    assert not os.path.exists(ts_socket), "-V must not start a server"


def test_detect_socket_resolution(
    ts_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Spooler.detect(socket="relative.sock").socket == str(tmp_path / "relative.sock")
    monkeypatch.delenv("TS_SOCKET")
    # the fixture points TMPDIR at its private directory, so this is not the user's socket
    tmpdir = os.environ["TMPDIR"]
    assert default_socket() == f"{tmpdir}/socket-ts.{os.getuid()}"
    assert Spooler.detect().socket == default_socket()
    assert not os.path.exists(default_socket())


def test_detect_missing_binary() -> None:
    with pytest.raises(BackendError, match="`tsq-no-such-ts` was not found") as caught:
        Spooler.detect(binary="tsq-no-such-ts")
    assert "\n" not in str(caught.value)


def test_detect_rejects_a_program_that_is_not_task_spooler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "ts"
    fake.write_text("#!/bin/sh\necho 'usage: ts [-r] [-i | -s] [-m] [format]'\n")
    fake.chmod(0o755)
    with pytest.raises(BackendError, match="is not task-spooler") as caught:
        Spooler.detect(binary=str(fake))
    assert str(caught.value).startswith(f"`{fake}` is not task-spooler")
    assert "\n" not in str(caught.value)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackendError, match=f"`{fake}` is not task-spooler"):
        Spooler.detect()


def test_detect_auto_without_any_ts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackendError, match="task-spooler is not installed") as caught:
        Spooler.detect()
    assert "\n" not in str(caught.value)


def test_submit_shows_label_and_command_in_list(spooler: Spooler) -> None:
    ts_id = spooler.submit([sys.executable, "-c", "print(1)"], "my_app/d951f05712ab/0")
    jobs = {job.id: job for job in spooler.list().jobs}
    assert jobs[ts_id].label == "my_app/d951f05712ab/0", "whole, also on the fork"
    assert jobs[ts_id].command == f"{sys.executable} -c print(1)"
    assert jobs[ts_id].depends == ()
    second = spooler.submit([sys.executable, "-c", "pass"], "second")
    assert second == ts_id + 1


def test_argv_reaches_the_program_verbatim(spooler: Spooler, tmp_path: Path) -> None:
    out = tmp_path / "argv.json"
    code = f"import sys, json; json.dump(sys.argv, open({str(out)!r}, 'w'))"
    args = [
        "a b",
        "'single'",
        '"double"',
        "$HOME",
        "*",
        "`id`",
        "; echo injected",
        "| cat",
        "&&",
        "",
        "-L",
        "--",
        "tab\there",
        "multi\nline",
        "back\\slash",
        "[x]",
        "é",
    ]
    ts_id = spooler.submit([sys.executable, "-c", code, *args], "verbatim")
    assert ts(spooler, "-w", str(ts_id)).returncode == 0
    assert json.loads(out.read_text()) == ["-c", *args]


def test_job_gets_the_given_environment_and_our_socket(
    spooler: Spooler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "env.json"
    code = (
        "import os, json; json.dump({k: os.environ.get(k) for k in ('TSQ_PROBE', 'TS_SOCKET')},"
        f" open({str(out)!r}, 'w'))"
    )
    # a stray TS_SOCKET in the caller's environment must neither redirect nor leak into the job
    monkeypatch.setenv("TS_SOCKET", "/nonexistent/elsewhere")
    ts_id = spooler.submit(
        [sys.executable, "-c", code], "env", env={**os.environ, "TSQ_PROBE": "42"}
    )
    assert ts(spooler, "-w", str(ts_id)).returncode == 0
    assert json.loads(out.read_text()) == {"TSQ_PROBE": "42", "TS_SOCKET": spooler.socket}


def test_argv_starting_with_a_dash_is_the_command(spooler: Spooler) -> None:
    ts_id = spooler.submit(["-V"], "dash")
    ts(spooler, "-w", str(ts_id))
    (job,) = [job for job in spooler.list().jobs if job.id == ts_id]
    assert (job.label, job.command) == ("dash", "-V")
    assert spooler.info(ts_id) == TsInfo(exit_code=255, signal=None, state="finished")


def test_submit_returns_while_the_job_runs(spooler: Spooler, tmp_path: Path) -> None:
    """The ts client forks a runner that waits for the job; it must not hold our stdout pipe:
    submit returns while the job waits for a file that only this test, afterwards, makes."""
    gate = tmp_path / "gate"
    waits = f"import os, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.05)"
    ts_id = spooler.submit([sys.executable, "-c", waits], "waiter")
    eventually(lambda: spooler.info(ts_id).state, "the job to run", until=lambda s: s == "running")
    gate.touch()
    eventually(lambda: spooler.info(ts_id), "the job to end", until=lambda i: i.state == "finished")
    assert spooler.info(ts_id).exit_code == 0


def test_slots_are_passed(spooler: Spooler) -> None:
    # one slot on this server: a two-slot job waits forever, which shows ts got -N 2
    ts_id = spooler.submit([sys.executable, "-c", "pass"], "wide", slots=2)
    assert spooler.info(ts_id).state == "queued"
    assert "Slots required: 2" in ts(spooler, "-i", str(ts_id)).stdout


def test_gpus_are_refused_up_front_by_a_ts_without_gpu_support(spooler: Spooler) -> None:
    """Debian's ts has no -G at all; the fork's CPU build (the one built here) neither, and
    says so only when asked `-G`: both are refused before anything is queued, in one line,
    and no server is started to find out."""
    expected = "needs the GPU fork" if spooler.variant == "task-spooler" else "CPU build"
    assert not spooler.has_gpus()
    with pytest.raises(BackendError, match=expected) as caught:
        spooler.check_resources(slots=1, gpus=1)
    assert "\n" not in str(caught.value)
    if spooler.variant == "task-spooler":
        with pytest.raises(BackendError, match=expected):
            spooler.submit([sys.executable, "-c", "pass"], "gpu", gpus=1)
    assert not spooler.alive()
    spooler.check_resources(slots=1, gpus=0)


@fork_only
def test_has_gpus_asks_the_option_table_of_the_binary(spooler: Spooler, tmp_path: Path) -> None:
    """`has_gpus` is `ts -G 1 -V` succeeding: a stand-in that takes -G (as a GPU build does,
    by its source) is taken for one; the real CPU build is not (above). Only the fork's variant
    asks its binary."""
    gpu = tmp_path / "ts"
    gpu.write_text(f'#!/bin/sh\n[ "$*" = "-G 1 -V" ] && exec {spooler.binary} -V\nexit 255\n')
    gpu.chmod(0o755)
    assert replace(spooler, binary=str(gpu)).has_gpus()
    assert not spooler.has_gpus()


@pytest.mark.parametrize("label", ["a]b", "two\nlines", "cr\r"])
def test_labels_that_would_break_the_listing_are_refused(spooler: Spooler, label: str) -> None:
    with pytest.raises(ValueError, match="label"):
        spooler.submit([sys.executable], label)


def test_empty_command_is_refused(spooler: Spooler) -> None:
    with pytest.raises(ValueError, match="empty"):
        spooler.submit([], "empty")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/bin/sh", "-c", "exit 3"], TsInfo(exit_code=3, signal=None, state="finished")),
        (["/bin/sh", "-c", "exit 200"], TsInfo(exit_code=200, signal=None, state="finished")),
        (["/bin/sh", "-c", "kill -9 $$"], TsInfo(exit_code=None, signal=9, state="finished")),
    ],
)
def test_info_tells_exit_code_and_signal(
    spooler: Spooler, argv: list[str], expected: TsInfo
) -> None:
    ts_id = spooler.submit(argv, "exit")
    ts(spooler, "-w", str(ts_id))
    assert spooler.info(ts_id) == expected


def test_a_listing_with_a_row_it_cannot_read_is_incomplete(spooler: Spooler) -> None:
    """A tab in a label (queued by someone else) shifts the fork's `-M tab` fields: that row
    is skipped, and the listing says it is not complete, so no absence is read from it."""
    mine = spooler.submit([sys.executable, "-c", "pass"], "mine")
    ts(spooler, "-L", "a\tb", "true")
    listing = spooler.list()
    assert mine in {job.id for job in listing.jobs}
    assert listing.complete is (spooler.variant == "task-spooler")


def test_info_of_an_unknown_job(spooler: Spooler) -> None:
    """Debian's ts fails; the fork prints "Job 99 not finished or not running." and exits 0:
    nothing is known of it."""
    spooler.submit([sys.executable, "-c", "pass"], "some job")
    if spooler.variant == "gpu-task-spooler":
        assert spooler.info(99) == TsInfo(exit_code=None, signal=None, state=None)
        return
    with pytest.raises(BackendError) as caught:
        spooler.info(99)
    assert "\n" not in str(caught.value)


def test_status_calls_never_start_a_server(spooler: Spooler) -> None:
    assert not spooler.alive()
    with pytest.raises(BackendError, match=f"server on {spooler.socket} is not running"):
        spooler.list()
    with pytest.raises(BackendError, match="is not running"):
        spooler.info(0)
    assert not os.path.exists(spooler.socket)

    spooler.submit([sys.executable, "-c", "pass"], "wake")
    assert spooler.alive()
    assert ts(spooler, "-K").returncode == 0
    eventually(lambda: not spooler.alive(), "the server to stop")
    with pytest.raises(BackendError, match="is not running"):
        spooler.list()
    assert not os.path.exists(spooler.socket)


def test_a_stale_socket_file_is_not_alive(spooler: Spooler) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(spooler.socket)  # bound, never listening: like a server killed with SIGKILL
    assert os.path.exists(spooler.socket)
    assert not spooler.alive()


def test_a_binary_removed_after_detect(ts_socket: str, tmp_path: Path) -> None:
    gone = Spooler(binary=str(tmp_path / "tsp"), socket=ts_socket, version="1.0.1")
    with pytest.raises(BackendError, match="does not exist") as caught:
        gone.submit([sys.executable, "-c", "pass"], "gone")
    assert "\n" not in str(caught.value)
