"""The parsers against real captured task-spooler output (tests/data/ts-samples and
tests/data/ts-fork-samples, see their READMEs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tsq.backends.tslist import (
    TsInfo,
    TsJob,
    exit_code_from_elevel,
    job_output,
    parse_info,
    parse_list,
    parse_slots,
    parse_tab,
    parse_version,
    unread_tab_rows,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "tests" / "data" / "ts-samples"
# The samples are captured once in the shared workspace beside the repository; the repository
# keeps a copy so it is self-contained.
SHARED_SAMPLES = REPO.parent / "shared" / "ts-samples"
SAMPLE_FILES = sorted(p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*.txt"))
# Real outputs of the GPU fork's CPU build (2.0.0), captured by the capture.sh beside them.
FORK_SAMPLES = REPO / "tests" / "data" / "ts-fork-samples"
FORK_SAMPLE_FILES = sorted(p.name for p in FORK_SAMPLES.glob("*.txt"))


def sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def listing(name: str) -> dict[int, TsJob]:
    jobs = parse_list(sample(name))
    by_id = {job.id: job for job in jobs}
    assert len(by_id) == len(jobs), "a listing shows each id once"
    return by_id


def info_sections(name: str) -> dict[int, str]:
    """The -i captures are several `tsp -i ID` answers, each after a "== tsp -i N" or
    "$ tsp -i N" line."""
    parts = re.split(r"^(?:== |\$ )tsp -i (\d+)\n", sample(name), flags=re.MULTILINE)
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts), 2)}


def test_copied_samples_match_the_shared_originals() -> None:
    if not SHARED_SAMPLES.is_dir():
        pytest.skip(f"no shared samples at {SHARED_SAMPLES}")
    originals = sorted(
        p.relative_to(SHARED_SAMPLES).as_posix() for p in SHARED_SAMPLES.rglob("*.txt")
    )
    assert originals == SAMPLE_FILES
    for name in SAMPLE_FILES:
        assert (SHARED_SAMPLES / name).read_bytes() == (SAMPLES / name).read_bytes(), name


# A line that starts like a `ts -l` row: an id, then a state word.
ROW_START = re.compile(r"^(\d+) +(queued|running|finished|skipped|allocating) ", re.MULTILINE)
EXIT_LINE = re.compile(r"^Exit status: (died with exit code|killed by signal) (-?\d+)$", re.M)


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_every_sample_parses_every_row(name: str) -> None:
    """No row of any captured listing is dropped or misread: each line that starts like a row
    comes back with its id and state, in order (samples hold no command with a newline)."""
    text = sample(name)
    expected = [(int(m[1]), m[2]) for m in ROW_START.finditer(text)]
    jobs = parse_list(text)
    assert [(job.id, job.state) for job in jobs] == expected
    assert all("\r" not in job.command for job in jobs)


@pytest.mark.parametrize("name", [n for n in SAMPLE_FILES if info_sections(n)])
def test_every_info_capture_gives_its_exit_status(name: str) -> None:
    """Each `ts -i` answer's exit status line comes back as an exit code (exit status & 0xff)
    or a signal, except for skipped jobs, which never ran."""
    for ts_id, text in info_sections(name).items():
        info = parse_info(text)
        status = EXIT_LINE.search(text)
        if status is None or info.state == "skipped":
            assert (info.exit_code, info.signal) == (None, None), ts_id
        elif status[1] == "killed by signal":
            assert (info.exit_code, info.signal) == (None, int(status[2])), ts_id
        else:
            assert (info.exit_code, info.signal) == (int(status[2]) & 0xFF, None), ts_id


# --- Debian task-spooler 1.0.1 `tsp -l` ---


def test_00_typical_listing() -> None:
    jobs = listing("00-typical-default-tmpdir.txt")
    assert list(jobs) == [5, 6, 7, 8, 0, 1, 2, 3, 4]
    assert jobs[5] == TsJob(
        id=5,
        state="running",
        output="/tmp/ts-out.g117gV",
        elevel=None,
        real_time=None,
        label="train",
        depends=(),
        command="python3 -c import time; time.sleep(20)",
        truncated=False,
    )
    assert (jobs[6].state, jobs[6].output, jobs[6].label) == ("queued", None, "eval run")
    assert (jobs[7].output, jobs[7].label, jobs[7].command) == (None, None, "echo no-store")
    assert (jobs[8].depends, jobs[8].label, jobs[8].command) == ((6,), "after-train", "echo done")
    assert [(jobs[i].elevel, jobs[i].real_time) for i in (0, 1, 2, 4)] == [
        (0, 0.0),
        (1, 0.0),
        (-1, 0.0),
        (-56, 0.0),
    ]
    assert jobs[0].output == "/tmp/ts-out.gmgoZa"
    assert (jobs[2].label, jobs[2].command) == ("nightly build", "sh -c kill -TERM $$")
    assert jobs[3] == TsJob(
        id=3,
        state="skipped",
        output=None,
        elevel=None,
        real_time=None,
        label=None,
        depends=(2,),
        command="echo skipped-because-prev-failed",
        truncated=False,
    )


@pytest.mark.parametrize(
    "name", ["01-empty.txt", "11-after-K-restart.txt", "18-TS_MAXFINISHED0-crash-and-id-reset.txt"]
)
def test_headers_alone_give_no_jobs(name: str) -> None:
    assert parse_list(sample(name)) == []


def test_02_long_output_pushes_columns_right() -> None:
    jobs = listing("02-finished-exitcodes.txt")
    assert [(j.id, j.elevel, j.command) for j in jobs.values()] == [
        (0, 0, "true"),
        (1, 1, "false"),
        (2, 3, "sh -c exit 3"),
        (3, -56, "sh -c exit 200"),
        (4, -1, "sh -c exit 255"),
        (5, -1, "sh -c kill -9 $$"),
        (6, -1, "sh -c kill -TERM $$"),
    ]
    assert jobs[0].output == "/var/tmp/tsqdemo/out/ts-out.USfjWl"
    assert jobs[6].output == "/var/tmp/tsqdemo/out/ts-out.ghEgwj"
    assert all(j.state == "finished" and j.real_time == 0.0 for j in jobs.values())


def test_04_labels_with_spaces_and_dependencies() -> None:
    jobs = listing("04-running-queued-deps-labels.txt")
    assert list(jobs) == list(range(7, 16))
    assert jobs[7].state == "running"
    assert jobs[7].label == "my label with spaces"
    assert jobs[7].command == "sleep 30"
    assert jobs[7].output == "/var/tmp/tsqdemo/out/ts-out.N3isa4"
    assert (jobs[8].label, jobs[8].command) == ("simple", "sh -c echo hi; exit 1")
    assert (jobs[9].depends, jobs[9].label, jobs[9].command) == ((8,), None, "echo depends on prev")
    assert jobs[10].depends == (7,)
    assert jobs[11].depends == (8,)
    assert jobs[11].label == "lab"
    assert jobs[11].command == "printf %s\\n a b c'd e\"f"
    assert (jobs[12].output, jobs[12].command) == (None, "echo no-output-stored")
    assert all(j.state == "queued" and j.elevel is None for j in list(jobs.values())[1:])


def test_05_finished_chain_with_skips() -> None:
    jobs = listing("05-after-chain-skipped.txt")
    assert list(jobs) == [13, 7, 8, 9, 10, 11, 12, 14, 15]
    assert jobs[13].state == "queued"
    assert (jobs[7].elevel, jobs[7].real_time, jobs[7].label) == (0, 30.0, "my label with spaces")
    assert (jobs[8].elevel, jobs[8].label) == (1, "simple")
    assert (jobs[9].state, jobs[9].output, jobs[9].elevel) == ("skipped", None, None)
    assert (jobs[11].state, jobs[11].depends, jobs[11].label) == ("skipped", (8,), "lab")
    assert (jobs[10].state, jobs[10].depends, jobs[10].elevel) == ("finished", (7,), 0)
    assert (jobs[12].output, jobs[12].elevel) == (None, 0)  # "stdout"
    assert (jobs[14].output, jobs[14].elevel) == (None, -1)  # "(...)" after the -E crash


def test_06_quoting_is_lost_and_newlines_break_rows() -> None:
    jobs = listing("06-quoting-and-exec-failure.txt")
    assert list(jobs) == [13, 18, 19, 20, 21, 22, 23, 24]
    assert (jobs[18].elevel, jobs[18].command) == (-1, "echo single string")
    assert (jobs[19].elevel, jobs[19].command) == (-1, "nonexistent-binary-xyz")
    # argv is joined with single spaces; the empty last argument leaves a trailing space
    assert jobs[20].command == "printf [%s]\\n a b c'd e\"f $HOME * "
    assert jobs[21].command == 'sh -c echo "$0|$1|$2" x y z'
    # the label holds a tab; the argument's newline cut the row, "line arg" is skipped
    assert jobs[24].label == 'tab\tand "quotes"'
    assert jobs[24].command == "echo multi"
    assert jobs[24].real_time == pytest.approx(0.01)


def test_07_long_commands_are_not_truncated() -> None:
    jobs = listing("07-long-commands.txt")
    assert list(jobs) == [13, 25, 26]
    args = " ".join(f"arg{i:03d}" for i in range(60))
    assert jobs[25].command == f"echo {args}"
    assert jobs[26].label == "L" * 80
    assert jobs[26].command == "sh -c sleep 0; echo " + "x" * 300
    assert not any(j.truncated for j in jobs.values())


def test_08_many_jobs_three_running() -> None:
    jobs = listing("08-many-jobs-slots3.txt")
    assert list(jobs) == list(range(27, 52))
    assert [j.id for j in jobs.values() if j.state == "running"] == [27, 28, 29]
    assert {(j.label, j.command) for j in jobs.values()} == {("batch", "sleep 2")}
    assert jobs[29].output == "/var/tmp/tsqdemo/out/ts-out.hWKj40"


def test_09_10_killed_jobs_show_minus_one() -> None:
    killed = listing("09-killed-by-k.txt")
    assert (killed[53].state, killed[53].command) == ("running", "sleep 100")
    assert (killed[52].elevel, killed[52].real_time) == (-1, pytest.approx(0.32))
    runner_killed = listing("10-runner-client-killed.txt")
    assert [(j.id, j.state, j.elevel, j.real_time) for j in runner_killed.values()] == [
        (52, "finished", -1, pytest.approx(0.32)),
        (53, "finished", -1, 0.0),
    ]


def test_12_two_slots_and_skip_after_failure() -> None:
    jobs = listing("12-maxfinished3-slots2.txt")
    assert [(j.id, j.state) for j in jobs.values()] == [
        (5, "running"),
        (8, "running"),
        (9, "queued"),
        (4, "finished"),
        (6, "finished"),
        (7, "skipped"),
    ]
    assert (jobs[5].label, jobs[9].label, jobs[8].label) == ("envjob", "q", None)
    assert jobs[6].elevel == 7
    assert (jobs[7].depends, jobs[7].command) == ((6,), "echo after-fail")


def test_13_savelist_dump_is_not_a_listing() -> None:
    dump = sample("13-TS_SAVELIST-dump.txt")
    assert parse_list(dump) == []
    uncommented = "\n".join(line.removeprefix("# ") for line in dump.splitlines())
    jobs = {job.id: job for job in parse_list(uncommented)}
    assert [(j.id, j.elevel, j.label, j.command) for j in jobs.values()] == [
        (9, 0, "q", "echo still-queued"),
        (10, 4, "onf", "sh -c exit 4"),
        (11, 0, None, "true"),
    ]
    assert jobs[11].output is None


def test_14_phantom_rows_of_a_full_queue() -> None:
    jobs = listing("14-queue-full-B.txt")
    assert [(j.id, j.state, j.output, j.elevel) for j in jobs.values()] == [
        (0, "running", "/var/tmp/tsqdemo/out/ts-out.WzaVxu", None),
        (1, "queued", None, None),
        (2, "queued", None, None),
        (3, "queued", None, None),
        (4, "finished", None, -1),
        (5, "finished", None, -1),
        (6, "finished", None, -1),
    ]


def test_15_two_listings_in_one_text() -> None:
    jobs = parse_list(sample("15-dependency-edge-cases.txt"))
    assert [(j.id, j.state) for j in jobs] == [
        (4, "running"),
        (5, "queued"),
        (6, "queued"),
        (3, "skipped"),
        (3, "skipped"),
        (4, "finished"),
        (5, "finished"),
        (6, "finished"),
    ]
    assert (jobs[1].depends, jobs[1].label, jobs[1].command) == ((4,), "x y", "echo dep+label")
    assert (jobs[2].depends, jobs[2].label, jobs[2].command) == ((5,), "chain", "echo d-chain")
    assert (jobs[5].elevel, jobs[5].real_time) == (0, 1.0)


def test_16_bare_dependency_and_missing_dependency() -> None:
    jobs = listing("16-d-without-prev-and-missing-dep.txt")
    assert (jobs[0].depends, jobs[0].command, jobs[0].elevel) == ((), "echo first-with-d", 0)
    assert (jobs[1].state, jobs[1].depends, jobs[1].command) == (
        "skipped",
        (999,),
        "echo dep-on-missing",
    )


def test_17_and_19_ignore_prompts_and_info_text() -> None:
    assert parse_list(sample("17-info-state-output-pid.txt")) == []
    assert parse_list(sample("19-TS_ENV-info.txt")) == [
        TsJob(
            id=11,
            state="finished",
            output="/var/tmp/tsqdemo/out/ts-out.PRNuVu",
            elevel=3,
            real_time=0.0,
            label="envjob",
            depends=(),
            command="sh -c exit 3",
            truncated=False,
        )
    ]


# --- GPU fork (justanhduc/task-spooler) `ts -l` ---

FORK_V2_LISTINGS = [
    "gpu-fork/01-cpu-build-l-piped.txt",
    "gpu-fork/04-cpu-build-l-tty120.txt",
    "gpu-fork/05-cpu-build-l-tty60.txt",
]


@pytest.mark.parametrize("name", FORK_V2_LISTINGS)
def test_fork_v2_listing_with_shortened_fields(name: str) -> None:
    jobs = listing(name)
    assert list(jobs) == [5, 6, 7, 8, 9, 10, 0, 1, 2, 3, 4]
    assert jobs[5].state == "running"
    assert jobs[5].label == "train"
    assert jobs[5].command == "python3 -c impo..."
    assert jobs[5].truncated
    assert jobs[5].output is None  # "/tmp/ts-researc..." is no path
    assert (jobs[6].label, jobs[6].command, jobs[6].truncated) == (
        "eval run",
        "echo queued job",
        False,
    )
    assert (jobs[8].depends, jobs[8].label, jobs[8].command) == ((6,), "after-train", "echo done")
    assert (jobs[10].depends, jobs[10].command) == ((0, 1), "echo multi-dep")
    assert [(jobs[i].elevel, jobs[i].real_time) for i in (0, 1, 2, 3, 4)] == [
        (0, 0.0),
        (1, 0.0),
        (-1, 0.0),
        (0, 0.0),
        (-56, 0.0),
    ]
    assert (jobs[2].label, jobs[2].command) == ("nightly build", "sh -c kill -TERM $$")
    assert (jobs[3].depends, jobs[3].command, jobs[3].truncated) == (
        (2,),
        "echo skipped-be...",
        True,
    )
    assert jobs[4].command == "sh -c exit 200"


def test_fork_machine_formats_are_not_listings() -> None:
    assert parse_list(sample("gpu-fork/02-cpu-build-M-json.txt")) == []
    assert parse_list(sample("gpu-fork/03-cpu-build-M-tab.txt")) == []
    assert parse_list(fork_sample("A-M-tab.txt")) == []
    assert parse_list(fork_sample("B-M-tab.txt")) == []


def test_fork_rows_without_header() -> None:
    jobs = listing("gpu-fork/06-cpu-build-W-vs-D.txt")
    assert [(j.id, j.state, j.elevel, j.depends, j.command) for j in jobs.values()] == [
        (11, "finished", 1, (), "false"),
        (12, "skipped", None, (11,), "echo W-after-fail"),
        (13, "finished", 0, (11,), "echo D-after-fail"),
        (14, "finished", 0, (), "echo W-missing"),
    ]


@pytest.mark.parametrize(
    "name", ["gpu-fork/10-v1.3.1-cpu-l-piped.txt", "gpu-fork/11-v1.3.1-cpu-l-tty200.txt"]
)
def test_fork_v1_3_listing_keeps_full_commands(name: str) -> None:
    jobs = listing(name)
    assert list(jobs) == [5, 6, 7, 8, 9, 10, 0, 1, 2, 3, 4]
    assert (jobs[5].label, jobs[5].command) == ("train", "python3 -c import time; time.sleep(8)")
    assert (jobs[9].depends, jobs[9].command) == ((5,), "echo dep-W")
    assert (jobs[3].depends, jobs[3].command, jobs[3].elevel) == ((2,), "echo after-fail", 0)
    assert not any(j.truncated for j in jobs.values())


def test_fork_v1_3_short_tty_listing() -> None:
    jobs = listing("gpu-fork/12-v1.3.1-cpu-l-tty110.txt")
    assert [(j.id, j.state, j.depends, j.command) for j in jobs.values()] == [
        (9, "running", (5,), "echo dep-W"),
        (10, "queued", (0, 1), "echo multi-dep"),
        (0, "finished", (), "true"),
    ]


def test_fork_gpu_build_listing_with_gpus_column() -> None:
    jobs = listing("gpu-fork/20-RECONSTRUCTED-gpu-build-v2.0.0-l.txt")
    assert [(j.id, j.state) for j in jobs.values()] == [
        (5, "running"),
        (6, "running"),
        (7, "allocating"),
        (8, "queued"),
        (9, "queued"),
        (10, "queued"),
        (0, "finished"),
        (1, "finished"),
        (2, "finished"),
        (3, "skipped"),
        (4, "finished"),
    ]
    assert (jobs[5].output, jobs[5].label, jobs[5].command) == (
        "/tmp/ts-out.g117gV",
        "train",
        "python train.py...",
    )
    assert jobs[5].truncated
    assert (jobs[7].label, jobs[7].command, jobs[7].truncated) == (
        "eval run",
        "python eval.py",
        False,
    )
    assert jobs[8].command == "echo cpu-only job"
    assert (jobs[10].depends, jobs[10].command) == ((5, 6), "python test.py")
    assert (jobs[0].elevel, jobs[0].real_time, jobs[0].command) == (0, 0.0, "true")
    assert (jobs[1].elevel, jobs[1].real_time) == (1, pytest.approx(1.11 * 3600))
    assert (jobs[3].depends, jobs[3].command, jobs[3].elevel) == ((1,), "echo skipped", None)
    assert (jobs[4].output, jobs[4].elevel, jobs[4].real_time) == (
        None,
        -56,
        pytest.approx(1.04 * 86400),
    )


def test_fork_gpu_id_listing_is_not_a_job_listing() -> None:
    assert parse_list(sample("gpu-fork/21-RECONSTRUCTED-gpu-build-g-listing.txt")) == []


def test_fork_real_gpu_build_listing_from_issue_73() -> None:
    jobs = listing("gpu-fork/22-REAL-from-issue73-gpu-build-l.txt")
    assert list(jobs) == [0, 1, 2, 4, 5, 15, 16, 17]
    assert all(j.state == "running" and j.truncated for j in jobs.values())
    assert jobs[0].command == "python evaluati..."
    assert jobs[0].output == "/tmp/ts-out.vwAYtZ"
    assert jobs[17].command == "bash scripts/co..."


# --- synthetic rows for cases no capture shows ---

DEBIAN_HEADER = "ID   State      Output               E-Level  Times(r/u/s)   Command [run=1/1]\n"


def test_output_path_with_a_space() -> None:
    text = (
        DEBIAN_HEADER
        + "3    running    /tmp/my dir/ts-out.abcdef                         [x]sleep 1\n"
        + "2    finished   /tmp/my dir/ts-out.ghijkl 0        1.00/0.00/0.00 [y]true\n"
    )
    running, finished = parse_list(text)
    assert (running.output, running.label, running.command) == (
        "/tmp/my dir/ts-out.abcdef",
        "x",
        "sleep 1",
    )
    assert (finished.output, finished.elevel, finished.command) == (
        "/tmp/my dir/ts-out.ghijkl",
        0,
        "true",
    )


def test_fork_dependency_on_no_previous_job() -> None:
    text = "7    queued     (file)                               [ ]&& [lab]echo x\n"
    (job,) = parse_list(text)
    assert (job.depends, job.label, job.command) == ((), "lab", "echo x")


@pytest.mark.parametrize(
    "line",
    [
        "",
        "ID",
        "12",
        "12   running",
        "12   paused     (file)                                       echo x",
        "12   finished   /tmp/ts-out.x        zero     0.00/0.00/0.00 true",
        "line arg",
        "  5    queued     (file)                                       echo indented",
        "5\tqueued\t(file)\t\t\techo tabbed",
    ],
)
def test_lines_that_are_not_rows_are_skipped(line: str) -> None:
    assert parse_list(DEBIAN_HEADER + line + "\n") == []


# --- `ts -i` ---


def test_03_info_of_finished_jobs() -> None:
    infos = {
        ts_id: parse_info(text) for ts_id, text in info_sections("03-info-finished.txt").items()
    }
    assert infos == {
        0: TsInfo(exit_code=0, signal=None, state="finished"),
        3: TsInfo(exit_code=200, signal=None, state="finished"),  # printed as -56
        5: TsInfo(exit_code=None, signal=9, state="finished"),
        6: TsInfo(exit_code=None, signal=15, state="finished"),
    }


def test_17_info_tells_running_queued_and_skipped() -> None:
    sections = info_sections("17-info-state-output-pid.txt")
    infos = {ts_id: parse_info(text) for ts_id, text in sections.items()}
    assert infos == {
        5: TsInfo(exit_code=None, signal=None, state="running"),
        6: TsInfo(exit_code=None, signal=None, state="queued"),
        2: TsInfo(exit_code=None, signal=15, state="finished"),
        # Debian prints "killed by signal 1" for a job that never ran
        3: TsInfo(exit_code=None, signal=None, state="skipped"),
    }


def test_19_info_after_an_environment_block() -> None:
    assert info_sections("19-TS_ENV-info.txt")[11].startswith("Environment:\n")
    assert parse_info(sample("19-TS_ENV-info.txt")) == TsInfo(
        exit_code=3, signal=None, state="finished"
    )


def test_fork_info_with_gpu_lines() -> None:
    info = parse_info(sample("gpu-fork/23-RECONSTRUCTED-gpu-build-i.txt"))
    assert info == TsInfo(exit_code=0, signal=None, state="finished")


def test_fork_info_of_a_waiting_gpu_job_does_not_guess() -> None:
    text = (
        "Command: python x.py\nSlots required: 1\nGPUs required: 2\nGPU IDs: 0\nEnqueue time: x\n"
    )
    assert parse_info(text) == TsInfo(exit_code=None, signal=None, state=None)
    cpu_only = text.replace("GPUs required: 2", "GPUs required: 0")
    assert parse_info(cpu_only).state == "queued"


def test_info_exit_status_in_the_environment_block_is_ignored() -> None:
    text = (
        "Environment:\nExit status: died with exit code 9\nuser=root\n"
        "Command: sleep 9\nSlots required: 1\nEnqueue time: x\nStart time: x\nTime running: 1s\n"
    )
    assert parse_info(text) == TsInfo(exit_code=None, signal=None, state="running")


@pytest.mark.parametrize("text", ["", "No jobs.\n", "Job 6 not finished or not running.\n"])
def test_info_without_a_job(text: str) -> None:
    assert parse_info(text) == TsInfo(exit_code=None, signal=None, state=None)


# --- E-Level and version ---


@pytest.mark.parametrize(
    ("elevel", "code"), [(0, 0), (3, 3), (127, 127), (-128, 128), (-56, 200), (-1, 255)]
)
def test_exit_code_from_elevel(elevel: int, code: int) -> None:
    assert exit_code_from_elevel(elevel) == code


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Task Spooler v1.0.1 - a task queue system for the unix user.\n"
            "Copyright (C) 2007-2020  Lluis Batlle i Rossell\n",
            ("task-spooler", "1.0.1"),
        ),
        (
            "Task Spooler v2.0.0 - a task queue system for the unix user.\n"
            "Copyright (C) 2007-2024  Duc Nguyen - Lluis Batlle i Rossell\n",
            ("gpu-task-spooler", "2.0.0"),
        ),
        (
            "Task Spooler v1.3.1+2+g0123abc - a task queue system for the unix user.\n"
            "Copyright (C) 2007-2023  Duc Nguyen - Lluis Batlle i Rossell\n",
            ("gpu-task-spooler", "1.3.1+2+g0123abc"),
        ),
        ("Unknown option: V\nusage: ts [-r] [-i | -s] [-m] [format]\n", None),
        ("2026-11-28 16:00:00 Task Spooler v1.0.1 - a task queue\n", None),
        ("", None),
    ],
)
def test_parse_version(text: str, expected: tuple[str, str] | None) -> None:
    assert parse_version(text) == expected


# --- GPU fork 2.0.0 CPU build, real captures (tests/data/ts-fork-samples) ---

L = "my_app/d951f05712ab"


def fork_sample(name: str) -> str:
    return (FORK_SAMPLES / name).read_text(encoding="utf-8")


def tab_listing(name: str) -> dict[int, TsJob]:
    jobs = parse_tab(fork_sample(name))
    by_id = {job.id: job for job in jobs}
    assert len(by_id) == len(jobs), "a listing shows each id once"
    return by_id


# Rows each parser finds in each capture: only the listings have any.
FORK_ROWS = {
    "A-M-tab.txt": (11, 0),
    "B-M-tab.txt": (22, 0),
    "A-l.txt": (0, 11),
    "B-l.txt": (0, 22),
}


@pytest.mark.parametrize("name", FORK_SAMPLE_FILES)
def test_every_fork_sample_gives_its_rows(name: str) -> None:
    text = fork_sample(name)
    tab_rows, list_rows = FORK_ROWS.get(name, (0, 0))
    assert (len(parse_tab(text)), len(parse_list(text))) == (tab_rows, list_rows)
    for job in parse_tab(text):
        assert job.state in {"queued", "running", "finished", "skipped"}
        assert job.label is None or job.label.startswith(("my_app/", "a_much_longer"))


def test_fork_tab_every_state_with_whole_labels() -> None:
    jobs = tab_listing("B-M-tab.txt")
    assert list(jobs) == [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, *range(9), 10, 11]
    assert jobs[12] == TsJob(
        id=12,
        state="running",
        output=None,  # "/tmp/tsfork-cap...": shortened, no path
        elevel=None,
        real_time=None,
        label=f"{L}/12",
        depends=(),
        command="python3 -c import time; time.sleep(300)",
        truncated=False,
    )
    assert jobs[15].label == "a_much_longer_application_name/d951f05712ab/15"
    assert (jobs[15].state, jobs[15].command) == ("queued", "echo queued")
    assert all(jobs[i].label == f"{L}/{i}" for i in jobs if i not in (15, 20))
    assert (jobs[20].label, jobs[20].command) == (None, "echo no-label")
    assert (jobs[21].output, jobs[21].command) == (None, "echo not-stored")
    assert not any(job.truncated for i, job in jobs.items() if i != 19)


def test_fork_tab_exit_levels_are_signed_chars() -> None:
    jobs = tab_listing("B-M-tab.txt")
    # 0 ok, 1 os._exit(7), 2 exit 200, 3 SIGKILL, 4 false, 6/7 after others, 8 `ts -k`, 11 -D
    ended = {i: (jobs[i].state, jobs[i].elevel) for i in (0, 1, 2, 3, 4, 6, 7, 8, 11)}
    assert ended == {
        0: ("finished", 0),
        1: ("finished", 7),
        2: ("finished", -56),
        3: ("finished", -1),
        4: ("finished", 1),
        6: ("finished", 0),
        7: ("finished", 0),
        8: ("finished", -1),
        11: ("finished", 0),
    }
    assert exit_code_from_elevel(jobs[2].elevel) == 200
    assert all(jobs[i].real_time is not None and jobs[i].real_time >= 0 for i in ended)
    assert jobs[0].real_time > 0.1  # a Python start-up, "0.55" + "s"
    for i in (5, 10):  # -W after a failure, -W on a removed job
        assert (jobs[i].state, jobs[i].elevel, jobs[i].real_time) == ("skipped", None, None)
    assert all(jobs[i].elevel is None for i in range(12, 23))


def test_fork_tab_dependencies() -> None:
    jobs = tab_listing("B-M-tab.txt")
    depends = {i: job.depends for i, job in jobs.items() if job.depends}
    assert depends == {
        5: (4,),  # -W 4, skipped
        6: (4,),  # -D 4, ran
        7: (6,),  # -d
        10: (9,),  # -W on removed 9, skipped
        11: (9,),  # -D on removed 9, ran
        13: (0,),  # running, -D 0
        14: (0,),  # running, -W 0
        16: (12,),
        17: (12, 13),
        18: (17,),  # -d
        22: (9,),
    }


def test_fork_tab_removed_job_is_gone() -> None:
    before = tab_listing("A-M-tab.txt")
    assert list(before) == [8, 10, 11, *range(8)]
    assert before[8].state == "running"
    assert (before[10].state, before[11].state) == ("queued", "queued")
    assert 9 not in tab_listing("B-M-tab.txt")


def test_fork_tab_newline_and_tab_in_the_command() -> None:
    jobs = parse_tab(fork_sample("B-M-tab.txt"))
    job = next(j for j in jobs if j.id == 19)
    # argv: printf '%s|' 'two words' $'a\tb' $'c\nd'; the line ends at the newline, "d" follows
    assert (job.label, job.command, job.truncated) == (
        f"{L}/19",
        "printf %s| two words a\tb c",
        True,
    )
    assert [j.id for j in jobs][jobs.index(job) + 1] == 20  # "d" is no row


def test_fork_tab_shared_sample_of_the_same_build() -> None:
    jobs = {j.id: j for j in parse_tab(sample("gpu-fork/03-cpu-build-M-tab.txt"))}
    assert list(jobs) == [5, 6, 7, 8, 9, 10, 0, 1, 2, 3, 4]
    assert (jobs[5].label, jobs[5].command) == ("train", "python3 -c import time; time.sleep(30)")
    assert (jobs[8].depends, jobs[8].label) == ((6,), "after-train")
    assert (jobs[10].depends, jobs[10].label) == ((0, 1), None)
    assert (jobs[4].elevel, jobs[4].command) == (-56, "sh -c exit 200")
    assert (jobs[2].elevel, jobs[2].label) == (-1, "nightly build")


def test_fork_tab_gpu_build_rows() -> None:
    # Written from list.c's GPU-build formats (no GPU build here): a GPUs count before the
    # dependencies, "%i\t%s\t%s\t%s\t%s\t%d\t%s\t[%s]\t%s" and, finished,
    # "%i\t%s\t%s\t%i\t%.2f\t%s\t%d\t%s\t[%s]\t%s".
    text = (
        "5\tallocating\t(file)\t\t\t2\t[3]&& \t[a/b/5]\tpython x.py\n"
        "6\trunning\t/tmp/ts-out.abc\t\t\t0\t\t\tpython y.py\n"
        "3\tfinished\t/tmp/ts-out.def\t-56\t1.50\tm\t1\t\t[a/b/3]\tsh -c exit 200\n"
    )
    jobs = parse_tab(text)
    assert [(j.id, j.state, j.label, j.depends, j.command) for j in jobs] == [
        (5, "allocating", "a/b/5", (3,), "python x.py"),
        (6, "running", None, (), "python y.py"),
        (3, "finished", "a/b/3", (), "sh -c exit 200"),
    ]
    assert (jobs[1].output, jobs[2].elevel, jobs[2].real_time) == ("/tmp/ts-out.abc", -56, 90.0)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "d",
        "ID\tState",
        "x\tqueued\t(file)\t\t\t\t[a]\techo",  # id not a number
        "5\twaiting\t(file)\t\t\t\t[a]\techo",  # unknown state
        "5\tqueued\t(file)\t\t\t\t[a]",  # a field short
        "5\tqueued\t(file)\t1\t\t\t[a]\techo",  # E-Level on a queued row
        "5\tfinished\t/tmp/x\t\t0.00\ts\t\t[a]\techo",  # no E-Level on a finished row
        "5\tfinished\t/tmp/x\t0\t0.00\tweeks\t\t[a]\techo",  # unknown unit
        "5\tqueued\t(file)\t\t\t[x]\t[a]\techo",  # not a dependency field
        "5\tqueued\t(file)\t\t\t\t[a\tb]\techo",  # a tab in the label shifts the fields
        '[{"ID":5,"State":"queued"}]',
    ],
)
def test_fork_tab_lines_that_are_not_rows_are_skipped(line: str) -> None:
    assert parse_tab(line) == []


def test_fork_tab_of_other_outputs_is_empty() -> None:
    for name in ("B-l.txt", "B-M-json.txt", "i-0.txt", "V.txt"):
        assert parse_tab(fork_sample(name)) == [], name
    assert parse_tab(sample("00-typical-default-tmpdir.txt")) == []


def test_fork_l_shortens_labels_so_rows_cannot_be_matched() -> None:
    jobs = {j.id: j for j in parse_list(fork_sample("B-l.txt"))}
    assert jobs[12].label == "my_app/d951f057..."
    assert jobs[15].label == "a_much_longer_a..."
    assert jobs[12].truncated
    assert (jobs[2].elevel, jobs[5].state, jobs[17].depends) == (-56, "skipped", (12, 13))


def test_fork_info_of_every_state() -> None:
    infos = {
        int(name.split("-")[1].split(".")[0]): parse_info(fork_sample(name))
        for name in FORK_SAMPLE_FILES
        if re.fullmatch(r"i-\d+\.txt", name)
    }
    assert infos == {
        0: TsInfo(exit_code=0, signal=None, state="finished"),
        1: TsInfo(exit_code=7, signal=None, state="finished"),
        2: TsInfo(exit_code=200, signal=None, state="finished"),  # "died with exit code -56"
        3: TsInfo(exit_code=None, signal=9, state="finished"),
        # skipped: "died with exit code -1" and no start time
        5: TsInfo(exit_code=None, signal=None, state="skipped"),
        6: TsInfo(exit_code=0, signal=None, state="finished"),
        8: TsInfo(exit_code=None, signal=15, state="finished"),  # ts -k
        10: TsInfo(exit_code=None, signal=None, state="skipped"),
        11: TsInfo(exit_code=0, signal=None, state="finished"),
        12: TsInfo(exit_code=None, signal=None, state="running"),
        13: TsInfo(exit_code=None, signal=None, state="running"),
        15: TsInfo(exit_code=None, signal=None, state="queued"),
        16: TsInfo(exit_code=None, signal=None, state="queued"),
        17: TsInfo(exit_code=None, signal=None, state="queued"),
        19: TsInfo(exit_code=None, signal=None, state="queued"),  # command over two lines
    }
    assert fork_sample("i-5.txt").startswith("Exit status: died with exit code -1\n")


@pytest.mark.parametrize("name", ["i-9-removed.txt", "i-99-missing.txt"])
def test_fork_info_of_no_job(name: str) -> None:
    assert parse_info(fork_sample(name)) == TsInfo(exit_code=None, signal=None, state=None)


def test_fork_label_slots_and_version() -> None:
    assert fork_sample("a-0.txt") == f"{L}/0\n"
    assert fork_sample("a-15.txt") == "a_much_longer_application_name/d951f05712ab/15\n"
    assert fork_sample("a-20.txt") == ""  # no label
    assert parse_slots(fork_sample("S.txt")) == 3
    assert parse_version(fork_sample("V.txt")) == ("gpu-task-spooler", "2.0.0")
    assert parse_version(fork_sample("G-cpu-build.txt")) is None


def test_the_fork_output_header_is_taken_out() -> None:
    """The fork's output file: the command line, "\\n\\0", then the job's output (real capture);
    only the first "\\n\\0" ends the header, and a file without one is all the job's."""
    captured = (FORK_SAMPLES / "c-env-job.txt").read_text()
    assert job_output(captured) == "CUDA_VISIBLE_DEVICES=-1\n"
    assert job_output("cmd a b\n\0out\n\0more\n") == "out\n\0more\n"
    assert job_output("plain output\n") == "plain output\n"


def test_unread_tab_rows_counts_rows_parse_tab_skips() -> None:
    assert unread_tab_rows((FORK_SAMPLES / "B-M-tab.txt").read_text()) == 0
    shifted = "3\tqueued\t(file)\t\t\t\t[a\tb]\ttrue\n"
    assert parse_tab(shifted) == [] and unread_tab_rows(shifted) == 1
