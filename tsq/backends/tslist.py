"""Parsers for what task-spooler prints, kept free of I/O so every captured sample can be tested.

`ts -l` has no machine format in Debian's 1.0.1, so the human listing is the interface there. Its
column widths are minimums, not fixed positions: a long output path pushes the rest of the row
right. Rows are therefore matched with regexes, and anything that does not look like a row
(headers, blank lines, the tail of a command whose argument held a newline) is skipped rather than
guessed at. The GPU fork 2.x shortens labels and commands in `ts -l`, so it is read through its
`-M tab` listing instead (`parse_tab`), which keeps them whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

_STATES = frozenset({"queued", "running", "finished", "skipped", "allocating"})

# The GPU fork prints the real time as "%5.2f" plus one of these units.
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

_HEADER = re.compile(
    r"^ID +State +Output +E-Level +(?P<time>Times\(r/u/s\)|Time)(?P<gpus> +GPUs)? +Command\b"
)
_ROW = re.compile(r"^(?P<id>\d+) +(?P<state>[a-z]+) +(?P<rest>.*)$")
# Only finished rows carry E-Level and times; Debian prints real/user/sys, the fork "1.50m".
_FINISHED = re.compile(
    r"^(?P<output>.+?) +(?P<elevel>-?\d+) +"
    r"(?:(?P<real>\d+\.\d+)/\d+\.\d+/\d+\.\d+|(?P<ftime>\d+\.\d+)(?P<unit>[smhd])) "
    r"(?P<tail>.*)$"
)
# Queued, running, skipped and allocating rows leave E-Level and times blank. Two spaces end the
# output field, so a TMPDIR with a single space in it still parses.
_UNFINISHED = re.compile(r"^(?P<output>.+?)  +(?P<tail>\S.*)$")
_GPUS = re.compile(r"^\d+ +(?P<tail>.*)$")
# "[3]&& ", "[0,1]&& ", the fork's "[ ]&& " for -d without a previous job, Debian's bare "&& ".
_DEPENDS = re.compile(r"^(?:\[(?P<ids>[\d ,]*)\])?&& ")
_LABEL = re.compile(r"^\[(?P<label>[^\]\n]*)\]")
_SHORTENED = "..."


@dataclass(frozen=True)
class TsJob:
    """One `ts -l` row; a ts id alone is no identity (ids restart with each server), so the label
    travels with it."""

    id: int
    state: str  # queued, running, finished, skipped; allocating in the GPU fork
    output: str | None  # None for placeholders such as "(file)" and "stdout"
    # As printed, a signed char in Debian's ts and in the GPU fork alike (both store the exit
    # status in a `signed char`): exit 200 is -56; -1 is exit 255, a signal, or (Debian) a skip.
    # `exit_code_from_elevel` applies to both variants; None when blank.
    elevel: int | None
    real_time: float | None  # seconds
    label: str | None
    depends: tuple[int, ...]
    command: str  # argv joined with single spaces: quoting is lost
    # The command or label shown is not the whole of it: the GPU fork's `-l` shortened it to 15
    # chars + "...", or (`-M tab`) the command held a newline and only its first line is here.
    truncated: bool


@dataclass(frozen=True)
class TsInfo:
    """What `ts -i` adds to a row: the E-Level -1 of a finished job may be exit 255 or any
    signal, and only this text tells them apart."""

    exit_code: int | None
    signal: int | None
    state: str | None


@dataclass(frozen=True)
class _Layout:
    """How the rows after a header are laid out; rows seen before any header get the default."""

    fork: bool = False
    gpus: bool = False


def parse_list(text: str) -> list[TsJob]:
    """Parse `ts -l` of Debian/upstream 1.0.x and the GPU fork 1.x/2.x, in the order printed.

    Several listings may follow one another (each header sets the layout of the rows below it).
    """
    jobs: list[TsJob] = []
    layout = _Layout()
    for raw in text.split("\n"):
        line = raw.removesuffix("\r")
        header = _HEADER.match(line)
        if header:
            layout = _Layout(fork=header["time"] == "Time", gpus=header["gpus"] is not None)
            continue
        job = _parse_row(line, layout)
        if job is not None:
            jobs.append(job)
    return jobs


def _parse_row(line: str, layout: _Layout) -> TsJob | None:
    row = _ROW.match(line)
    if row is None or row["state"] not in _STATES:
        return None
    rest = row["rest"]
    elevel: int | None = None
    real_time: float | None = None
    fork = layout.fork
    if row["state"] == "finished":
        match = _FINISHED.match(rest)
        if match is None:
            return None
        elevel = int(match["elevel"])
        if match["real"] is not None:
            real_time = float(match["real"])
        else:
            real_time = float(match["ftime"]) * _UNIT_SECONDS[match["unit"]]
            fork = True
    else:
        match = _UNFINISHED.match(rest)
        if match is None:
            return None
    tail = match["tail"]
    if layout.gpus:
        gpus = _GPUS.match(tail)
        if gpus is None:
            return None
        tail = gpus["tail"]
    depends, label, command = _split_command(tail)
    shortened = command.endswith(_SHORTENED) or (label or "").endswith(_SHORTENED)
    return TsJob(
        id=int(row["id"]),
        state=row["state"],
        output=_output_path(match["output"]),
        elevel=elevel,
        real_time=real_time,
        label=label,
        depends=depends,
        command=command,
        truncated=fork and shortened,
    )


def _split_command(text: str) -> tuple[tuple[int, ...], str | None, str]:
    """ts prints the dependency, then the label, then the command, with no separator after the
    label; a command that itself starts with "[...]" is indistinguishable from a label."""
    depends: tuple[int, ...] = ()
    dep = _DEPENDS.match(text)
    if dep:
        depends = tuple(int(i) for i in re.findall(r"\d+", dep["ids"] or ""))
        text = text[dep.end() :]
    label = None
    lab = _LABEL.match(text)
    if lab:
        label = lab["label"]
        text = text[lab.end() :]
    return depends, label, text


def _output_path(shown: str) -> str | None:
    """Placeholders ("(file)", "(no output)", "(...)", "stdout") and the fork's shortened
    "/tmp/ts-researc..." are not paths anyone can open."""
    if shown == "stdout" or shown.startswith("(") or shown.endswith(_SHORTENED):
        return None
    return shown


def parse_tab(text: str) -> list[TsJob]:
    """Parse the GPU fork's `ts -M tab` (2.0.0; 1.3.x has no `-M`), in the order printed: queued
    and running jobs, then finished ones.

    Why `-M tab` and not `-M json` or `-l`: `-l` shortens labels and commands to 15 chars +
    "..." even when piped, and `-M json` has no label and no dependencies; only `-M tab` carries
    the whole label, which is what matches a row to its job. Its price: nothing is escaped.

    One line per job, fields separated by tabs (list.c, plainprint_*): ID, State, Output, E-Level,
    time, time unit, [GPUs, GPU builds only], dependencies ("" or "[3]&& ", "[3,4]&& "), label
    ("" or "[label]"), command (argv joined with spaces, quoting lost). E-Level, time and unit are
    "" unless the job finished (a skipped job has none); Output is shortened to 15 chars + "..."
    past 20 chars, so it is kept only when whole. The command comes last, so tabs in it stay in
    it; a newline in it ends the line early: that row is marked `truncated` and the lines that
    continue it are skipped. A row whose fields do not fit this layout (a tab in a label, a line
    that is not a row) is skipped, never guessed at. E-Level is the same signed char as Debian's
    (`TsJob.elevel`).
    """
    jobs: list[TsJob] = []
    for raw in text.split("\n"):
        line = raw.removesuffix("\r")
        job = _parse_tab_row(line)
        if job is not None:
            jobs.append(job)
        elif line and jobs and not _TAB_ROW_START.match(line):
            # Every line `-M tab` prints is a row: a line that does not even start like one
            # continues the command of the row above (an argument held a newline).
            jobs[-1] = replace(jobs[-1], truncated=True)
    return jobs


_TAB_ROW_START = re.compile(r"^\d+\t[a-z]+\t")


def unread_tab_rows(text: str) -> int:
    """How many lines of a `ts -M tab` listing start like a row but `parse_tab` could not read
    (a tab in a label or output path shifts the fields): the job of such a row is in the
    queue, yet no parsed row shows it."""
    lines = [raw.removesuffix("\r") for raw in text.split("\n")]
    return sum(1 for line in lines if _TAB_ROW_START.match(line) and _parse_tab_row(line) is None)


def job_output(text: str) -> str:
    """What the GPU fork's output file holds of the job's own output: the fork writes the job's
    command line and then "\n\0" before it runs the job (execute.c; tests/data/ts-fork-samples/
    c-env-job.txt). An argv holds no NUL, so the first "\n\0" ends that header; a text without
    one (an output file not written by the fork) is the job's own."""
    header_end = text.find("\n\0")
    return text if header_end < 0 else text[header_end + 2 :]


_TAB_DEPENDS = re.compile(r"^\[(?P<ids>[\d ,]*)\]&& $")
_TAB_LABEL = re.compile(r"^\[(?P<label>.*)\]$")
_TAB_ELEVEL = re.compile(r"^-?\d+$")
_TAB_TIME = re.compile(r"^\d+\.\d+$")


def _parse_tab_row(line: str) -> TsJob | None:
    head = line.split("\t", 2)
    if len(head) < 3 or not (head[0].isascii() and head[0].isdigit()) or head[1] not in _STATES:
        return None
    finished = head[1] == "finished"
    # CPU build: finished rows have 9 fields, the others 8 (no E-Level/time/unit values but the
    # same empty fields minus the unit). A GPU build adds a GPUs count before the dependencies:
    # a number, which a dependency field never is.
    count = 9 if finished else 8
    gpus_at = count - 3
    fields = line.split("\t", count - 1)
    if len(fields) < count:
        return None
    if fields[gpus_at].isascii() and fields[gpus_at].isdigit():
        fields = line.split("\t", count)
        if len(fields) < count + 1:
            return None
        del fields[gpus_at]
    output, depends_field, label_field, command = fields[2], *fields[-3:]
    elevel: int | None = None
    real_time: float | None = None
    if finished:
        elevel_field, time_field, unit = fields[3:6]
        if not (
            _TAB_ELEVEL.match(elevel_field)
            and _TAB_TIME.match(time_field)
            and unit in _UNIT_SECONDS
        ):
            return None
        elevel = int(elevel_field)
        real_time = float(time_field) * _UNIT_SECONDS[unit]
    elif fields[3:5] != ["", ""]:
        return None
    depends: tuple[int, ...] = ()
    if depends_field:
        dep = _TAB_DEPENDS.match(depends_field)
        if dep is None:
            return None
        depends = tuple(int(i) for i in re.findall(r"\d+", dep["ids"]))
    label = None
    if label_field:
        lab = _TAB_LABEL.match(label_field)
        if lab is None:
            return None
        label = lab["label"]
    return TsJob(
        id=int(head[0]),
        state=head[1],
        output=_output_path(output) if output else None,
        elevel=elevel,
        real_time=real_time,
        label=label,
        depends=depends,
        command=command,
        truncated=False,
    )


def exit_code_from_elevel(elevel: int) -> int:
    """ts stores the exit status in a signed char, so exit 200 shows as -56; the GPU fork too
    (2.0.0, checked: tests/data/ts-fork-samples/).

    -1 maps to 255, but a -1 E-Level may equally be a signal or an exec failure: ask `ts -i`.
    """
    return elevel & 0xFF


_EXIT_STATUS = re.compile(
    r"^Exit status: (?:died with exit code (?P<code>-?\d+)|killed by signal (?P<signal>\d+))\s*$"
)
_SLOTS = re.compile(r"^Slots required: ")
_GPUS_REQUIRED = re.compile(r"^GPUs required: (?P<n>\d+)")


def parse_info(text: str) -> TsInfo:
    """Parse `ts -i ID`.

    The text is: optional TS_ENV "Environment:" block, "Exit status: ..." once the job ended,
    "Command: ..." (maybe over several lines), "Slots required: N", then the times. Only the times
    after the last "Slots required" line and a status line directly above "Command:" are trusted,
    so the environment block cannot fake them. A skipped job has an exit status ("killed by
    signal 1" on Debian) but never started: it reports neither code nor signal.
    """
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    slots = [i for i, line in enumerate(lines) if _SLOTS.match(line)]
    if not slots:
        return TsInfo(exit_code=None, signal=None, state=None)
    tail = lines[slots[-1] + 1 :]
    commands = [i for i in range(slots[-1]) if lines[i].startswith("Command: ")]
    above = commands[-1] - 1 if commands else -1
    status = _EXIT_STATUS.match(lines[above]) if above >= 0 else None
    state = _info_state(tail, ended=status is not None)
    if status is None or state == "skipped":
        return TsInfo(exit_code=None, signal=None, state=state)
    if status["code"] is not None:
        return TsInfo(
            exit_code=exit_code_from_elevel(int(status["code"])), signal=None, state=state
        )
    return TsInfo(exit_code=None, signal=int(status["signal"]), state=state)


def _info_state(tail: list[str], *, ended: bool) -> str | None:
    """Both variants print "Start time" only for running and finished jobs."""
    if any(line.startswith("Time running:") for line in tail):
        return "running"
    if any(line.startswith("End time:") for line in tail):
        return "finished"
    if any(line.startswith("Start time:") for line in tail):
        return None
    if ended:
        return "skipped"
    gpus = next((m for m in map(_GPUS_REQUIRED.match, tail) if m), None)
    # A waiting GPU job may be "queued" or "allocating"; -i does not say which.
    return "queued" if gpus is None or gpus["n"] == "0" else None


def parse_slots(text: str) -> int | None:
    """Parse `ts -S` without a number: the server's slot count, alone on a line ("%i\\n" in
    Debian 1.0.1 and the GPU fork alike). None when the text is anything else."""
    stripped = text.strip()
    return int(stripped) if stripped.isascii() and stripped.isdigit() else None


_VERSION = re.compile(r"^Task Spooler v?(?P<version>\S+) - ", re.MULTILINE)


def parse_version(text: str) -> tuple[str, str] | None:
    """Tell task-spooler from moreutils' unrelated `ts` by its `-V` banner.

    Returns ("task-spooler", version) for Debian/upstream and ("gpu-task-spooler", version) for
    the justanhduc fork (its copyright line names Duc Nguyen), which takes `-G` and prints
    extra columns.
    """
    match = _VERSION.search(text)
    if match is None:
        return None
    variant = "gpu-task-spooler" if "Duc Nguyen" in text else "task-spooler"
    return variant, match["version"]
