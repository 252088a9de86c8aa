"""`tsq logs`: what a job printed, why it failed, and following it from the queue to its end."""

from __future__ import annotations

from procs import finish, popen_tsq, read_until
from sweeps import Sandbox


def _sweep_id(sandbox: Sandbox) -> str:
    return sandbox.status()[0]["sweep"]


def test_logs_show_the_traceback_of_a_failed_task(sandbox: Sandbox) -> None:
    sandbox.sweep("x=3", "fail=true")
    sandbox.wait_terminal()
    out = sandbox.tsq("logs", f"{_sweep_id(sandbox)}:0").stdout
    _, sep, traceback = out.partition("==> traceback (from the job's result): ")
    assert sep, out
    assert "Traceback (most recent call last):" in traceback
    assert 'raise ValueError(f"asked to fail with x={cfg.x}")' in traceback, "the task's frame"
    assert traceback.rstrip().endswith("ValueError: asked to fail with x=3")


def test_logs_of_a_job_that_failed_before_its_task_started(sandbox: Sandbox) -> None:
    sandbox.sweep("+x=1", "+hydra.launcher.env.TSQ_TEST_BREAK_IMPORT=1", script="importfail.py")
    [job] = sandbox.wait_terminal()
    assert (job["state"], job["exit_code"]) == ("failed", 2), "set-up failure: no output dir"
    out = sandbox.tsq("logs", f"{job['sweep']}:0").stdout
    output, sep, traceback = out.partition("==> traceback (from the job's result): ")
    assert output.startswith("==> output (stdout and stderr): "), "what ts captured"
    assert "ImportError: fragile cannot be imported in this job" in output
    assert sep and "ImportError: fragile cannot be imported in this job" in traceback


def test_logs_follow_waits_for_a_queued_job_to_start(sandbox: Sandbox) -> None:
    blocker = sandbox.block_queue()
    sandbox.sweep("x=6")
    sweep = _sweep_id(sandbox)
    proc = popen_tsq(sandbox, "logs", "-f", f"{sweep}:0")
    said = read_until(proc.stderr, "\n")
    assert said == f"tsq: job {sweep}:0 is queued; waiting for it to start\n"
    sandbox.release(blocker)
    out, err = finish(proc)
    assert (proc.returncode, err) == (0, ""), err
    assert out.startswith("==> output (stdout and stderr): ")
    assert "job 0 running with x=6" in out
    assert sandbox.status()[0]["state"] == "completed", "-f returns once the job has ended"


def test_logs_show_the_job_output_and_nothing_the_queue_added(sandbox: Sandbox) -> None:
    """The GPU fork starts the output file with the job's command line and "\\n\\0": `logs`
    and `logs -f` show what the job printed, from its first line, on both variants."""
    sandbox.sweep("+lines=3", script="chatty.py")
    [job] = sandbox.wait_terminal()
    ref = f"{job['sweep']}:0"
    expected = "".join(f"line {i} of the chatty task's output\n" for i in range(3))
    for args in (["logs", ref], ["logs", "-f", ref]):
        out = sandbox.tsq(*args).stdout
        header, _, rest = out.partition(" <==\n")
        assert header.startswith("==> output (stdout and stderr): "), out
        assert rest.startswith(expected), (args, rest)
        assert "\0" not in out and "tsq.runner" not in out


def test_logs_follow_stops_in_one_line_when_the_sweep_is_forgotten(sandbox: Sandbox) -> None:
    sandbox.sweep("x=7", "sleep=60")
    sweep = _sweep_id(sandbox)
    proc = popen_tsq(sandbox, "logs", "-f", f"{sweep}:0")
    read_until(proc.stdout, "job 0 running with x=7")
    sandbox.tsq("forget", sweep, "--cancel", "--yes")  # forget refuses a sweep with jobs running
    _, err = finish(proc)
    # The follower sees the job end (cancelled) or, first, the sweep gone from the store.
    forgotten = f"tsq: sweep {sweep} was forgotten (tsq forget) while following job 0"
    assert (proc.returncode, err.splitlines()) in ((2, [forgotten]), (0, [])), (
        proc.returncode,
        err,
    )
