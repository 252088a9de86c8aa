"""Parsers for what Slurm's clients print, and what each job state means to tsq. No I/O.

Kept pure, like `tsq.backends.tslist`, so every captured sample (tests/data/slurm-samples/) is a
test. The formats are fixed here, and the backend must ask for exactly these (the parsers check the
column count and say so rather than guess):

- `sbatch --parsable`: ``ID`` or ``ID;CLUSTER`` (the latter with ``-M``/``--clusters``).
- ``squeue -h -r -O SQUEUE_FORMAT``: one row per array task (``-r``), ``|``-separated, the job
  name last because it is the only free-text column (names may hold ``|``). A pending throttled
  array may still come as one ``123_[2-5%2]`` row (without ``-r``); it is expanded. ``-O``, not
  ``-o``: only ``-O`` has the restart count.
- ``sacct --parsable2 -n -o SACCT_FIELDS``: same idea; step rows (``123.batch``,
  ``123_4.extern``, ``123.0``) are skipped, array ranges expanded, ``CANCELLED by UID`` split.
- ``scontrol show job -o``: one ``Key=Value ...`` line per job or array record. Values are not
  quoted, so a value holding a space (JobName, Command, WorkDir, StdOut, Reason...) is only
  delimited by the next known key; see `parse_scontrol`.

Slurm 22.05 (Debian 12) is what the samples come from; the state list is the one in squeue(1)
"JOB STATE CODES", which has not changed in later releases up to 24.x.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tsq.render.words import signal_name

#: squeue ``-O`` columns: the job id as users see it (``123``, ``123_4``, ``123_[5-9%2]``), the
#: task's own numeric job id, state, reason, start time (actual when running, *expected* when
#: pending, N/A when unknown), how many times Slurm started the job again (requeue, preemption),
#: name (last: free text). Size 0 is "no padding, no truncation" (the default is 20 characters).
SQUEUE_FIELDS = ("JobArrayID", "JobID", "State", "Reason", "StartTime", "RestartCnt", "Name")
SQUEUE_FORMAT = ",".join(f"{name}:0|" for name in SQUEUE_FIELDS[:-1]) + f",{SQUEUE_FIELDS[-1]}:0"
#: sacct fields, in order; JobName last (free text).
SACCT_FIELDS = (
    "JobID",
    "JobIDRaw",
    "State",
    "ExitCode",
    "Reason",
    "Start",
    "End",
    "NodeList",
    "JobName",
)


class SlurmParseError(ValueError):
    """Output that does not have the shape this module asked Slurm for."""


# --- states -----------------------------------------------------------------------------------


class Phase(enum.Enum):
    """Where a job is, as tsq shows it."""

    QUEUED = "queued"  # will run (possibly after a hold is released), has not started this run
    RUNNING = "running"  # started; its processes may be running, stopped or finishing
    ENDED = "ended"  # Slurm will not run it again by itself


class Ending(enum.Enum):
    """How an ended job ended, before tsq looks at its result file (which always wins)."""

    COMPLETED = "completed"  # exit 0: a job without a result file then is tsq's "lost"/failed
    FAILED = "failed"
    CANCELLED = "cancelled"


class SlurmState(enum.Enum):
    """Every job state squeue(1), sacct(1) and scontrol(1) print (Slurm 22.05 to 24.x).

    A Slurm job has a base state plus flags; the clients print the flag when one is set
    (COMPLETING, CONFIGURING, REQUEUED, ...), else the base state.
    """

    PENDING = "PENDING"
    CONFIGURING = "CONFIGURING"
    RUNNING = "RUNNING"
    COMPLETING = "COMPLETING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    BOOT_FAIL = "BOOT_FAIL"
    DEADLINE = "DEADLINE"
    REQUEUED = "REQUEUED"
    REQUEUE_HOLD = "REQUEUE_HOLD"
    REQUEUE_FED = "REQUEUE_FED"
    RESIZING = "RESIZING"
    REVOKED = "REVOKED"
    SIGNALING = "SIGNALING"
    SPECIAL_EXIT = "SPECIAL_EXIT"
    STAGE_OUT = "STAGE_OUT"
    STOPPED = "STOPPED"
    SUSPENDED = "SUSPENDED"
    RESV_DEL_HOLD = "RESV_DEL_HOLD"


@dataclass(frozen=True)
class StateMeaning:
    """What one Slurm state means for tsq: its phase, and for ended jobs how they ended and the
    words a user needs (empty when the exit code says it all)."""

    phase: Phase
    ending: Ending | None
    why: str


_Q, _R, _E = Phase.QUEUED, Phase.RUNNING, Phase.ENDED
_F, _C = Ending.FAILED, Ending.CANCELLED

#: Every state. Choices that are not obvious:
#: CONFIGURING is queued: nodes are allocated but booting, the job's code has not started.
#: COMPLETING, STAGE_OUT, SIGNALING, RESIZING are running: the job's processes (or its epilog,
#: burst-buffer stage-out, a signal being delivered) are still being dealt with; the result file,
#: if written, wins anyway. STOPPED and SUSPENDED are running too: started, and will resume.
#: PREEMPTED is ended (Slurm counts every base state after SUSPENDED as finished); with
#: PreemptMode=REQUEUE the same job shows PENDING again right after, which then wins.
#: REQUEUED / REQUEUE_FED / REQUEUE_HOLD / SPECIAL_EXIT / RESV_DEL_HOLD are queued: the job will
#: run again, the holds only once someone runs `scontrol release`.
#: REVOKED (federation: a sibling cluster runs the job) is ended as cancelled *here*.
STATE_MEANINGS: dict[SlurmState, StateMeaning] = {
    SlurmState.PENDING: StateMeaning(_Q, None, ""),
    SlurmState.CONFIGURING: StateMeaning(_Q, None, "its nodes are being configured"),
    SlurmState.REQUEUED: StateMeaning(_Q, None, "requeued"),
    SlurmState.REQUEUE_FED: StateMeaning(_Q, None, "requeued by the federation"),
    SlurmState.REQUEUE_HOLD: StateMeaning(
        _Q, None, "requeued and held: `scontrol release` to run it"
    ),
    SlurmState.SPECIAL_EXIT: StateMeaning(
        _Q, None, "requeued and held after a special exit: `scontrol release` to run it"
    ),
    SlurmState.RESV_DEL_HOLD: StateMeaning(
        _Q, None, "held because its reservation was deleted: `scontrol release` to run it"
    ),
    SlurmState.RUNNING: StateMeaning(_R, None, ""),
    SlurmState.COMPLETING: StateMeaning(_R, None, "completing"),
    SlurmState.STAGE_OUT: StateMeaning(_R, None, "staging out"),
    SlurmState.SIGNALING: StateMeaning(_R, None, "being signalled"),
    SlurmState.RESIZING: StateMeaning(_R, None, "being resized"),
    SlurmState.STOPPED: StateMeaning(_R, None, "stopped (SIGSTOP), keeping its CPUs"),
    SlurmState.SUSPENDED: StateMeaning(_R, None, "suspended"),
    SlurmState.COMPLETED: StateMeaning(_E, Ending.COMPLETED, ""),
    SlurmState.FAILED: StateMeaning(_E, _F, ""),
    SlurmState.CANCELLED: StateMeaning(_E, _C, "cancelled"),
    SlurmState.TIMEOUT: StateMeaning(_E, _F, "hit its time limit (TIMEOUT)"),
    SlurmState.OUT_OF_MEMORY: StateMeaning(_E, _F, "ran out of memory (OUT_OF_MEMORY)"),
    SlurmState.NODE_FAIL: StateMeaning(_E, _F, "its node failed (NODE_FAIL)"),
    SlurmState.PREEMPTED: StateMeaning(_E, _F, "preempted (PREEMPTED)"),
    SlurmState.BOOT_FAIL: StateMeaning(_E, _F, "its node failed to boot (BOOT_FAIL)"),
    SlurmState.DEADLINE: StateMeaning(_E, _F, "missed its deadline (DEADLINE)"),
    SlurmState.REVOKED: StateMeaning(_E, _C, "revoked: another cluster of the federation runs it"),
}


def parse_state(text: str) -> tuple[SlurmState | None, int | None]:
    """``"RUNNING"`` -> (RUNNING, None); sacct's ``"CANCELLED by 1000"`` -> (CANCELLED, 1000).

    A state this module does not know (a newer Slurm) gives None, so a refresh can keep what it
    knew rather than crash or guess.
    """
    word, _, rest = text.strip().partition(" ")
    by: int | None = None
    m = re.fullmatch(r"by (\d+)", rest.strip())
    if m:
        by = int(m.group(1))
    # Old sacct without --parsable2 truncates and marks with "+": not our format, but harmless.
    word = word.rstrip("+")
    try:
        return SlurmState(word), by
    except ValueError:
        return None, by


# --- exit codes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExitStatus:
    """Slurm's ``ExitCode=N:S``: the exit code of the batch script and the signal that ended it
    (0 when none). ``0:9`` is a SIGKILL, ``0:15`` what scancel sends, ``3:0`` an ``exit 3``."""

    code: int
    signal: int

    @property
    def ok(self) -> bool:
        return self.code == 0 and self.signal == 0


#: The "signal" slurmstepd reports when it could not set a batch job up, before anything ran:
#: here, when it could not open the job's output file (its folder missing); the job is FAILED
#: 0:53, Reason=JobLaunchFailure (sampled: scontrol-launch-failed.txt). Not a signal anyone sent.
LAUNCH_FAILED = 53


def parse_exit_code(text: str) -> ExitStatus | None:
    """``"3:0"`` -> ExitStatus(3, 0); empty or malformed -> None (sacct leaves it blank on
    some rows)."""
    m = re.fullmatch(r"\s*(\d+):(\d+)\s*", text)
    return ExitStatus(int(m.group(1)), int(m.group(2))) if m else None


# --- what a job's state means, with its exit and reason ---------------------------------------

#: scontrol/squeue reasons worth showing a user, in words. Others are shown as Slurm prints them.
_REASONS = {
    "Dependency": "waiting for a dependency",
    "DependencyNeverSatisfied": "its dependency can never be satisfied",
    "JobHeldUser": "held by its user: `scontrol release` to run it",
    "JobHeldAdmin": "held by an administrator",
    "BeginTime": "waiting for its begin time",
    "JobArrayTaskLimit": "waiting: array throttle (%)",
    "Resources": "waiting for resources",
    "Priority": "waiting: other jobs first",
    "PartitionDown": "its partition is down",
    "PartitionInactive": "its partition is inactive",
    "ReqNodeNotAvail": "the nodes it needs are not available",
}


@dataclass(frozen=True)
class Verdict:
    """A job as tsq sees it from Slurm's word alone: phase, how it ended, and why (for a user)."""

    phase: Phase
    ending: Ending | None
    why: str


def judge(state: SlurmState, exit_status: ExitStatus | None = None, reason: str = "") -> Verdict:
    """Combine state, exit status and reason into what tsq reports.

    FAILED says how: ``exit code 3`` or ``killed by SIGKILL`` (Slurm's own reason for the latter,
    ``JobLaunchFailure``, is misleading and left out). CANCELLED by Slurm because a dependency can
    never be met (``kill_invalid_depend``) says so; a plain scancel says ``cancelled``. A queued
    job carries its pending reason when it says something a user can act on.
    """
    meaning = STATE_MEANINGS[state]
    reason = "" if reason in ("None", "(null)") else reason
    why = meaning.why
    if state is SlurmState.FAILED or (
        meaning.phase is Phase.ENDED and state is not SlurmState.COMPLETED and not why
    ):
        if exit_status is not None and exit_status.signal == LAUNCH_FAILED:
            why = (
                "never started: Slurm could not launch it (0:53: its output folder missing, "
                "or another set-up failure in slurmd's log)"
            )
        elif exit_status is not None and exit_status.signal:
            why = f"killed by {signal_name(exit_status.signal)}"
        elif exit_status is not None and exit_status.code:
            why = f"exit code {exit_status.code}"
        else:
            why = "failed" + (f" ({reason})" if reason else "")
    elif state is SlurmState.CANCELLED and reason == "DependencyNeverSatisfied":
        why = "cancelled by Slurm: its dependency can never be satisfied"
    elif meaning.phase is Phase.QUEUED and reason:
        words = _REASONS.get(reason.split(",")[0], reason)
        why = f"{why}; {words}" if why else words
    return Verdict(meaning.phase, meaning.ending, why)


# --- scontrol show config ---------------------------------------------------------------------


def config_value(text: str, key: str) -> str | None:
    """One setting in what ``scontrol show config`` prints (``Key = value``); None if absent."""
    m = re.search(rf"^{re.escape(key)}\s*=\s*(\S.*?)\s*$", text, re.M)
    return m.group(1) if m else None


# --- ids ---------------------------------------------------------------------------------------


def expand_tasks(spec: str) -> tuple[int, ...]:
    """An array task spec as Slurm prints it: ``"0-3,5%2"`` -> (0, 1, 2, 3, 5); ``"0-15:4"`` ->
    (0, 4, 8, 12); ``"7"`` -> (7,). The ``%N`` throttle is dropped."""
    spec = spec.strip().strip("[]").split("%")[0]
    tasks: list[int] = []
    for part in spec.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", part.strip())
        if not m:
            raise SlurmParseError(f"not an array task spec: {spec!r}")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        step = int(m.group(3)) if m.group(3) is not None else 1
        if last < first or step < 1:
            raise SlurmParseError(f"not an array task spec: {spec!r}")
        tasks.extend(range(first, last + 1, step))
    return tuple(tasks)


@dataclass(frozen=True)
class JobId:
    """A job as squeue/sacct name it. ``job`` is the array's id (or the plain job's), ``tasks``
    the array tasks the row stands for (empty for a plain job), ``step`` the step for sacct's
    step rows (``batch``, ``extern``, ``0``), else None."""

    job: int
    tasks: tuple[int, ...] = ()
    step: str | None = None


def parse_job_id(text: str) -> JobId:
    """``"123"``, ``"123_7"``, ``"123_[0-3,5%2]"``, ``"123_7.batch"``, ``"123.extern"``; a
    federated ``"123+0"`` (heterogeneous job component) keeps only the job."""
    m = re.fullmatch(r"(\d+)(?:\+\d+)?(?:_(\d+|\[[^\]]*\]))?(?:\.(\S+))?", text.strip())
    if not m:
        raise SlurmParseError(f"not a Slurm job id: {text!r}")
    tasks = expand_tasks(m.group(2)) if m.group(2) else ()
    return JobId(int(m.group(1)), tasks, m.group(3))


def _time(text: str) -> datetime | None:
    """Slurm's ``2026-11-29T02:52:32`` (local time of the controller, no zone); ``Unknown``,
    ``N/A``, ``None`` and blanks are None."""
    text = text.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


# --- sbatch ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """What ``sbatch --parsable`` printed: the job id (of the array, for ``--array``) and the
    cluster when Slurm names one (``-M``), else None."""

    job_id: int
    cluster: str | None = None


def parse_sbatch(stdout: str) -> Submission:
    """``"123"``, ``"123;cluster"``, or without --parsable ``"Submitted batch job 123"`` (plus
    `` on cluster X`` with -M). The last non-blank line counts: sbatch may print notes before."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise SlurmParseError("sbatch printed no job id")
    last = lines[-1]
    m = re.fullmatch(r"(\d+)(?:;(\S+))?", last) or re.fullmatch(
        r"Submitted batch job (\d+)(?: on cluster (\S+))?", last
    )
    if not m:
        raise SlurmParseError(f"not an sbatch job id: {last!r}")
    return Submission(int(m.group(1)), m.group(2))


def sbatch_error(stderr: str) -> str:
    """One line for a refused submission, in sbatch's own words.

    sbatch prints ``sbatch: error: <detail>`` lines then usually ``sbatch: error: Batch job
    submission failed: <summary>``; the detail is the useful part when there is one (it names
    the bad value), so the lines are joined, prefixes dropped, duplicates removed.
    """
    parts: list[str] = []
    for line in stderr.splitlines():
        line = line.strip()
        if not line:
            continue
        line = re.sub(r"^(?:sbatch: )?(?:error|fatal): ", "", line)
        line = re.sub(r"^sbatch: ", "", line)
        if line.startswith('Try "sbatch --help"'):
            continue
        if line and line not in parts:
            parts.append(line)
    return "; ".join(parts) if parts else "sbatch failed without a message"


# --- squeue ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueEntry:
    """One job or array task in squeue. ``task`` is None for a plain job. ``raw_id`` is the
    numeric id Slurm gave this task (the array's own id while a task has not been split off)."""

    job: int
    task: int | None
    raw_id: int
    state: SlurmState | None
    state_text: str
    reason: str
    start: datetime | None  # actual when running; for pending jobs an estimate, or None
    restarts: int  # how many times Slurm started it again (requeue, preemption)
    name: str

    def verdict(self) -> Verdict | None:
        return judge(self.state, None, self.reason) if self.state is not None else None


def parse_squeue(text: str) -> list[QueueEntry]:
    """Rows of ``squeue -h -r -O SQUEUE_FORMAT``; ranges (without ``-r``) expand to one entry
    per task. Blank lines are skipped; any other line that is not seven columns is an error."""
    entries: list[QueueEntry] = []
    n = len(SQUEUE_FIELDS)
    for line in text.splitlines():
        if not line.strip():
            continue
        cols = line.split("|", n - 1)
        if len(cols) != n or not cols[5].isdigit():
            raise SlurmParseError(f"not a squeue row of {SQUEUE_FORMAT!r}: {line!r}")
        jid, raw, state_text, reason, start, restarts, name = cols
        ident = parse_job_id(jid)
        state, _ = parse_state(state_text)
        for task in ident.tasks or (None,):
            entries.append(
                QueueEntry(
                    job=ident.job,
                    task=task,
                    raw_id=int(raw),
                    state=state,
                    state_text=state_text,
                    reason=reason,
                    start=_time(start),
                    restarts=int(restarts),
                    name=name,
                )
            )
    return entries


# --- sacct -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountingEntry:
    """One job or array task in sacct (step rows dropped). With ``-D`` a requeued job has one
    entry per run, oldest first; the last is the current one."""

    job: int
    task: int | None
    raw_id: int
    state: SlurmState | None
    state_text: str
    cancelled_by: int | None  # the uid in "CANCELLED by UID"
    exit: ExitStatus | None
    reason: str
    start: datetime | None
    end: datetime | None
    nodes: str
    name: str
    # A task of an array's pending remainder (`123_[8-39]`), not a record of its own. slurmdbd
    # updates that remainder late: for a few seconds it may still list tasks that have started
    # and have records of their own beside it (sampled).
    in_range: bool = False

    def verdict(self) -> Verdict | None:
        """sacct shows a job Slurm cancelled for a dependency that can never be met as plain
        ``CANCELLED`` (no ``by UID``) with its last pending reason ``Dependency`` (scontrol says
        ``DependencyNeverSatisfied``); a user's scancel of such a job says ``CANCELLED by UID``."""
        if self.state is None:
            return None
        reason = self.reason
        if (
            self.state is SlurmState.CANCELLED
            and self.cancelled_by is None
            and reason == "Dependency"
        ):
            reason = "DependencyNeverSatisfied"
        return judge(self.state, self.exit, reason)


def parse_sacct(text: str) -> list[AccountingEntry]:
    """Rows of ``sacct --parsable2 -n -o ",".join(SACCT_FIELDS)``, steps skipped, pending array
    ranges (``123_[2-5%2]``) expanded to one entry per task."""
    entries: list[AccountingEntry] = []
    n = len(SACCT_FIELDS)
    for line in text.splitlines():
        if not line.strip():
            continue
        cols = line.split("|", n - 1)
        if len(cols) != n:
            raise SlurmParseError(f"not a sacct row of {','.join(SACCT_FIELDS)}: {line!r}")
        jid, raw, state_text, exit_text, reason, start, end, nodes, name = cols
        ident = parse_job_id(jid)
        if ident.step is not None:
            continue
        state, by = parse_state(state_text)
        # JobIDRaw of a not-yet-split array record is "123"; of a task, its own id.
        raw_id = parse_job_id(raw).job
        for task in ident.tasks or (None,):
            entries.append(
                AccountingEntry(
                    job=ident.job,
                    task=task,
                    raw_id=raw_id,
                    state=state,
                    state_text=state_text,
                    cancelled_by=by,
                    exit=parse_exit_code(exit_text),
                    reason=reason,
                    start=_time(start),
                    end=_time(end),
                    nodes=nodes,
                    name=name,
                    in_range="[" in jid,
                )
            )
    return entries


def last_runs(entries: list[AccountingEntry]) -> dict[tuple[int, int | None], RunOf]:
    """With ``sacct -D`` every run of a requeued job is one entry, oldest first: the last run
    of each job or task, with how many runs came before it (Slurm's restart count).

    An array's pending remainder is no run: a task listed there stands for itself only while
    it has no record of its own, wherever sacct lists the remainder. A stale remainder taken
    for a run would read as a restart of every task that has left it, and a finished task
    would be taken for one Slurm is running again."""
    runs: dict[tuple[int, int | None], RunOf] = {}
    for entry in entries:
        key = entry.job, entry.task
        before = runs.get(key)
        if entry.in_range and before is not None:
            continue
        after = None if before is None or before.entry.in_range else before
        if after is None:
            runs[key] = RunOf(entry, 0, (rerun_cause(entry),))
        else:
            runs[key] = RunOf(entry, after.restarts + 1, (*after.endings, rerun_cause(entry)))
    return runs


def rerun_cause(earlier: AccountingEntry) -> str:
    """Why Slurm ran a job again, from its earlier run's entry: the state that run ended in
    and what it means ("NODE_FAIL: its node failed", "PREEMPTED: preempted", "REQUEUED:
    requeued" for `scontrol requeue`, "FAILED: exit code 3" for a RequeueExit)."""
    state = earlier.state_text.split(" ", 1)[0] or "no state"
    verdict = earlier.verdict()
    why = verdict.why.removesuffix(f" ({state})") if verdict is not None else ""
    return f"{state}: {why}" if why else state


@dataclass(frozen=True)
class RunOf:
    """A job's latest run in sacct, how many times Slurm started the job again before it, and
    how each run listed ended (`rerun_cause`), oldest first. A job requeued and pending again
    has no record of its new run yet: whoever knows its restart count (squeue) takes the
    first that many as the causes (`causes`)."""

    entry: AccountingEntry
    restarts: int
    endings: tuple[str, ...] = ()

    def causes(self, restarts: int) -> tuple[str, ...]:
        """Why Slurm ran the job again, for each of its `restarts` earlier runs that sacct
        lists."""
        return self.endings[:restarts]


# --- scontrol show job -o ---------------------------------------------------------------------

#: The keys ``scontrol show job -o`` prints (Slurm 22.05, plus later ones we know of). Inside a
#: free-text value (below) only these start a new field, so a path with " x=" in it stays whole.
# fmt: off
SCONTROL_KEYS = frozenset([
    "JobId", "ArrayJobId", "ArrayTaskId", "ArrayTaskThrottle", "HetJobId", "HetJobOffset",
    "HetJobIdSet", "JobName", "UserId", "GroupId", "MCS_label", "Priority", "Nice", "Account",
    "QOS", "JobState", "Reason", "Dependency", "Requeue", "Restarts", "BatchFlag", "Reboot",
    "ExitCode", "DerivedExitCode", "RunTime", "TimeLimit", "TimeMin", "SubmitTime",
    "EligibleTime", "AccrueTime", "StartTime", "EndTime", "Deadline", "PreemptEligibleTime",
    "PreemptTime", "SuspendTime", "SecsPreSuspend", "LastSchedEval", "Scheduler", "Partition",
    "AllocNode:Sid", "ReqNodeList", "ExcNodeList", "NodeList", "BatchHost", "NumNodes", "NumCPUs",
    "NumTasks", "CPUs/Task", "ReqB:S:C:T", "TRES", "Socks/Node", "NtasksPerN:B:S:C", "CoreSpec",
    "MinCPUsNode", "MinMemoryNode", "MinMemoryCPU", "MinTmpDiskNode", "Features", "DelayBoot",
    "OverSubscribe", "Contiguous", "Licenses", "Network", "Command", "WorkDir", "AdminComment",
    "SystemComment", "Comment", "StdErr", "StdIn", "StdOut", "Power", "TresPerNode", "TresPerJob",
    "TresPerTask", "TresPerSocket", "TresBind", "TresFreq", "CpusPerTres", "MemPerTres",
    "MailUser", "MailType", "NtasksPerTRES", "Reservation", "Cluster", "ClusterFeatures",
    "FedOrigin", "FedViableSiblings", "FedActiveSiblings", "BurstBuffer", "BurstBufferState",
    "CpuFreqMin", "CpuFreqMax", "CpuFreqGov", "KillOInInvalidDependent", "ResvPorts", "CPU_IDs",
    "Mem", "GRES", "Container", "ContainerID", "SelinuxContext", "LicensesAlloc", "OOMKillStep",
    "Segment"
])
# fmt: on
#: Keys whose values are free text (may hold spaces): only a known key ends them.
SCONTROL_FREE_TEXT = frozenset(
    {
        "JobName",
        "Reason",
        "Command",
        "WorkDir",
        "StdErr",
        "StdIn",
        "StdOut",
        "Comment",
        "AdminComment",
        "SystemComment",
        "Features",
        "Dependency",
    }
)
_KEY_AT = re.compile(r"(?:^| )([A-Za-z][A-Za-z0-9_:/]*)=")


def split_scontrol(line: str) -> dict[str, str]:
    """One ``scontrol show job -o`` line as a dict of its raw values.

    Slurm joins ``Key=Value`` pairs with single spaces and never quotes, so a space inside a value
    is ambiguous. Rule: every `` Word=`` starts a field, except inside a free-text value
    (SCONTROL_FREE_TEXT) where only a key of SCONTROL_KEYS does. A value like ``TRES=cpu=1,mem=2``
    keeps its own ``=``. What stays ambiguous: free text holding `` <KnownKey>=`` (a command
    argument ``WorkDir=x``); tsq's own jobs never put one there.
    """
    line = line.rstrip("\n").rstrip()
    fields: dict[str, str] = {}
    key: str | None = None
    start = 0
    for m in _KEY_AT.finditer(line):
        word = m.group(1)
        if key is not None:
            if key in SCONTROL_FREE_TEXT and word not in SCONTROL_KEYS:
                continue  # part of the free-text value
            fields[key] = line[start : m.start()]
        elif m.start() != 0:
            raise SlurmParseError(f"not a scontrol show job -o line: {line[:80]!r}")
        key, start = word, m.end()
    if key is None:
        raise SlurmParseError(f"not a scontrol show job -o line: {line[:80]!r}")
    fields[key] = line[start:]
    return fields


def _null(value: str | None) -> str | None:
    return None if value in (None, "", "(null)", "N/A", "None", "Unknown") else value


@dataclass(frozen=True)
class ControllerJob:
    """One record of ``scontrol show job -o``: a plain job, an array task that has been split
    off (``tasks`` = one task), or the array's not-yet-started remainder (``tasks`` = all of it,
    e.g. ``2-5%2``). ``fields`` keeps every raw value for what is not typed here."""

    job_id: int  # this record's own id
    job: int  # the array's id, or job_id for a plain job
    tasks: tuple[int, ...]
    name: str
    state: SlurmState | None
    state_text: str
    reason: str
    exit: ExitStatus | None
    dependency: str | None
    restarts: int
    start: datetime | None
    end: datetime | None
    stdout: str | None
    stderr: str | None
    workdir: str | None
    command: str | None
    fields: dict[str, str] = field(repr=False, compare=False)

    def verdict(self) -> Verdict | None:
        return judge(self.state, self.exit, self.reason) if self.state is not None else None

    @property
    def remainder(self) -> bool:
        """The array's own record standing for the tasks not split off yet: pending, or
        emptied (every task left in it cancelled: no task list). Once its last task starts,
        the array's own record becomes that task's, and this is False."""
        own = "ArrayJobId" in self.fields and self.job_id == self.job
        return own and (not self.tasks or self.state is SlurmState.PENDING)


#: ``ArrayTaskId`` of an array's own record once its pending remainder has no task left (they
#: were cancelled): Slurm's NO_VAL - 1 in place of a task list (sampled).
NO_TASKS = "4294967294"


def parse_scontrol(text: str) -> list[ControllerJob]:
    """Every non-blank line of ``scontrol show job -o [ID]``.

    ``StdOut``/``StdErr`` of an unsplit array record hold Slurm's placeholder task id 4294967294
    (NO_VAL - 1) in place of ``%a``; they are kept as printed.
    """
    jobs: list[ControllerJob] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        f = split_scontrol(line)
        try:
            job_id = int(f["JobId"])
            state, _ = parse_state(f["JobState"])
        except (KeyError, ValueError) as e:
            raise SlurmParseError(f"no JobId/JobState in {line[:80]!r}") from e
        array = f.get("ArrayJobId")
        listed = f.get("ArrayTaskId", NO_TASKS)
        tasks = expand_tasks(listed) if array and listed != NO_TASKS else ()
        jobs.append(
            ControllerJob(
                job_id=job_id,
                job=int(array) if array else job_id,
                tasks=tasks,
                name=f.get("JobName", ""),
                state=state,
                state_text=f["JobState"],
                reason=f.get("Reason", ""),
                exit=parse_exit_code(f.get("ExitCode", "")),
                dependency=_null(f.get("Dependency")),
                restarts=int(f.get("Restarts", "0") or 0),
                start=_time(f.get("StartTime", "")),
                end=_time(f.get("EndTime", "")),
                stdout=_null(f.get("StdOut")),
                stderr=_null(f.get("StdErr")),
                workdir=_null(f.get("WorkDir")),
                command=_null(f.get("Command")),
                fields=f,
            )
        )
    return jobs


# --- what silence means -----------------------------------------------------------------------


def cancelled_unstarted(
    missing: Iterable[tuple[int, int]],
    accounted: Sequence[AccountingEntry] | None,
    controller: Sequence[ControllerJob],
) -> set[tuple[int, int]]:
    """Array tasks, among `missing` (none of squeue, sacct or scontrol lists them, neither as a
    record of their own nor in a pending range), that Slurm took out of their array before
    they started: a scancel of a task, a range or ``-t PENDING`` while it waited in the array's
    pending remainder (held back by the throttle, a dependency...).

    Slurm records no such cancel per task (sampled, tests/data/slurm-samples/README.md): the
    task just leaves the remainder, and at most the array's own record says ``CANCELLED`` once
    the remainder is empty, with the tasks last left in it or with none. So the evidence is the
    array, not the task: a task only leaves the remainder by starting, which gives it a record
    of its own, or by being cancelled. Here that is

    - sacct has records of the array (`accounted` is None when it could not be asked): records
      there are permanent, so a task that started has one (one that started seconds ago and is
      not in sacct yet is in scontrol's, and so is not missing);
    - or scontrol holds the array's remainder, pending or emptied (`ControllerJob.remainder`),
      the task not in it (without accounting, once the last task has started the remainder
      is gone and a refresh that did not see it in time has no evidence: the task is `lost`).
    """
    arrays = {entry.job for entry in accounted or ()}
    arrays |= {record.job for record in controller if record.remainder}
    return {(job, task) for job, task in missing if job in arrays}
