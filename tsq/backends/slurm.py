"""Slurm as a queue backend: `sbatch --array` per batch, refreshed from squeue and sacct.

Every job of a batch is one task of an array, running the same job runner as ts jobs
(`tsq.files.commands.runner_argv`). A batch takes as many arrays as the cluster's `MaxArraySize`
needs (`split_arrays`): a task id is the job's number below that size, else its offset from the
array's first job, and the batch script adds that offset back (`task_word`). The store keeps the
array's job id in `queue_id` and the task id in `server_id` (`Queued.place`; none recorded: the
job's number, as before arrays were split): together they name the task (`<array id>_<task>`).
The batch script starts the runner under `srun` (`srun_command`), as submitit does: one step
of `nodes` x `tasks_per_node` tasks, each with the step's `SLURM_*` (its rank: `tsq.job.ranks`),
SIGUSR2 before the time limit going to every task (`tsq.job.timelimit`).
`slurmlist` parses what the clients print; this module runs them, always bounded in time
(Slurm's clients retry forever when the controller is down).

A refresh costs at most three calls, whatever the number of jobs: `squeue --me` for the active
ones, then, for recorded jobs it does not list, one `sacct -D -j <ids>` (accounting on) and one
`scontrol show job` for what sacct does not know (accounting off, or not recorded yet). An array
task none of them knows was cancelled before it started when they know its array
(`slurmlist.cancelled_unstarted`); any other job none of them knows is missing: `lost` once it
left no result.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsq import jobenv
from tsq.backends import JobRef, Queued, QueueRow, RowState, Stopped
from tsq.backends.slurmlist import (
    LAUNCH_FAILED,
    SACCT_FIELDS,
    SQUEUE_FORMAT,
    Ending,
    Phase,
    SlurmParseError,
    SlurmState,
    Verdict,
    cancelled_unstarted,
    config_value,
    last_runs,
    parse_sacct,
    parse_sbatch,
    parse_scontrol,
    parse_squeue,
    sbatch_error,
)
from tsq.errors import BackendError, QueueRefused
from tsq.files.commands import runner_argv
from tsq.files.labels import array_name, named_task
from tsq.files.spool import SpoolDir

if TYPE_CHECKING:
    from datetime import datetime

    from tsq.backends.queueing import QueueOptions

TIMEOUT = 60.0  # seconds for one client call
TASK = "$SLURM_ARRAY_TASK_ID"
#: Which run of its submission the runner is (0 for the first): a requeued job runs the same
#: batch script again, and each run must leave files of its own.
RESTART = "${SLURM_RESTART_COUNT:-0}"
SCANCELLED = "cancelled in Slurm (scancel)"


def split_arrays(nums: Sequence[int], max_size: int) -> list[tuple[int, list[int]]]:
    """Job numbers as few arrays as `MaxArraySize` (`max_size`: task ids below it) allows, each
    as (offset, numbers): a job's task id is its number minus its array's offset. The first
    array's offset is 0 while its numbers allow, so below that size a task id is the job's
    number (`scancel <array>_<num>`); an array past it starts at its first job's number."""
    arrays: list[tuple[int, list[int]]] = []
    for num in sorted(set(nums)):
        if arrays and num - arrays[-1][0] < max_size:
            arrays[-1][1].append(num)
        else:
            arrays.append((0 if num < max_size else num, [num]))
    return arrays


def task_word(offset: int) -> str:
    """The job's number in its array task's batch script: the task id plus the offset."""
    return TASK if offset == 0 else f"$(({TASK[1:]} + {offset}))"


def array_task(job: JobRef) -> int:
    """The job's task id in its array: the one recorded when it was queued, else (a job not
    recorded yet, or queued before arrays were split) its number."""
    return int(job.place) if job.place is not None else job.num


def task_ranges(nums: Sequence[int]) -> str:
    """Job numbers as an array spec, ranges collapsed: [0, 1, 2, 5, 7, 8] -> "0-2,5,7-8"."""
    parts: list[str] = []
    ordered = sorted(set(nums))
    start = prev = ordered[0]
    for num in [*ordered[1:], None]:
        if num is not None and num == prev + 1:
            prev = num
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if num is not None:
            start = prev = num
    return ",".join(parts)


def scancel_targets(rows: Sequence[QueueRow]) -> list[str]:
    """scancel's arguments for `rows`: one per array, its tasks as ranges (`123_[0-5,7]`),
    and plain jobs by id."""
    tasks: dict[int, list[int]] = {}
    plain: set[int] = set()
    for row in rows:
        if row.task is None:
            plain.add(row.queue_id)
        else:
            tasks.setdefault(row.queue_id, []).append(row.task)
    arrays = [f"{job}_[{task_ranges(nums)}]" for job, nums in sorted(tasks.items())]
    return arrays + [str(job) for job in sorted(plain)]


# --- options -> sbatch directives ---------------------------------------------------------------

#: hydra-submitit-launcher's option -> sbatch option, for the plain ones (None: not set).
_PLAIN = {
    "nodes": "nodes",
    "tasks_per_node": "ntasks-per-node",
    "cpus_per_task": "cpus-per-task",
    "gpus_per_node": "gpus-per-node",
    "partition": "partition",
    "qos": "qos",
    "comment": "comment",
    "constraint": "constraint",
    "exclude": "exclude",
    "gres": "gres",
    "cpus_per_gpu": "cpus-per-gpu",
    "gpus_per_task": "gpus-per-task",
    "mem_per_gpu": "mem-per-gpu",
    "mem_per_cpu": "mem-per-cpu",
    "account": "account",
}


def directives(slurm: Mapping[str, Any], name: str, output: str, error: str | None) -> list[str]:
    """sbatch options for hydra-submitit-launcher's Slurm options (`tsq.options`)."""
    opts = [f"--job-name={slurm.get('name') or name}", f"--output={output}"]
    if error is not None:
        opts.append(f"--error={error}")
    opts.append("--open-mode=append")  # a requeued job's earlier run stays in the file
    if slurm.get("timeout_min") is not None:
        opts.append(f"--time={int(slurm['timeout_min'])}")
    if slurm.get("signal_delay_s"):
        # As submitit: SIGUSR2 that long before the time limit to every task of the job's
        # `srun` step (`tsq.job.timelimit`: noted, or the job requeued).
        opts.append(f"--signal=USR2@{int(slurm['signal_delay_s'])}")
    if slurm.get("mem_gb") is not None:
        opts.append(f"--mem={slurm['mem_gb']}GB")
    for key, option in _PLAIN.items():
        if slurm.get(key) is not None:
            opts.append(f"--{option}={slurm[key]}")
    for key, value in (slurm.get("additional_parameters") or {}).items():
        opts.append(f"--{str(key).replace('_', '-')}" + ("" if value is True else f"={value}"))
    return opts


def output_paths(slurm: Mapping[str, Any], spool: Path) -> tuple[str, str | None]:
    """sbatch's --output and --error (None: merged) patterns: in `submitit_folder`, whose `%j`
    means what it means for submitit, the job (`%A_%a` for an array task, so one folder per
    task), else in the sweep's spool dir (`spool`)."""
    folder = slurm.get("submitit_folder")
    root = str(folder).replace("%j", "%A_%a") if folder else str(spool)
    out = f"{root}/%A_%a_log.out"
    return out, None if slurm.get("stderr_to_stdout") else f"{root}/%A_%a_log.err"


def ranks_of(slurm: Mapping[str, Any]) -> int:
    """How many tasks each job runs (`nodes` x `tasks_per_node`)."""
    return int(slurm.get("nodes") or 1) * int(slurm.get("tasks_per_node") or 1)


def rank_output(pattern: str, ranks: int) -> str:
    """srun's output pattern for the tasks: the job's own file for one task, one file per
    rank beside it for several (`<array id>_<task>_<rank>_log.out`, as submitit's `%t`)."""
    return pattern if ranks == 1 else pattern.replace("%A_%a_log", "%A_%a_%t_log")


def srun_command(slurm: Mapping[str, Any], output: str, error: str | None) -> list[str]:
    """The `srun` that starts the job's tasks in one step, as submitit's: each task gets the
    step's `SLURM_*` variables (its rank, the node list); a task that fails stops the others
    (`--kill-on-bad-exit`: a rank waiting for a dead one would wait until the time limit);
    `srun_args` come last, so they may change either."""
    ranks = ranks_of(slurm)
    argv = ["srun", "--unbuffered", "--kill-on-bad-exit=1", "--open-mode=append"]
    argv.append(f"--output={rank_output(output, ranks)}")
    if error is not None:
        argv.append(f"--error={rank_output(error, ranks)}")
    return [*argv, *map(str, slurm.get("srun_args") or [])]


def task_folder(output: str, array_id: int, task: int) -> Path:
    """The folder of a task's output file: Slurm opens the file but does not create its folder
    (a missing one fails the job at launch, ExitCode 0:53)."""
    return Path(output.replace("%A", str(array_id)).replace("%a", str(task))).parent


def _make_folder(output: str, spool: Path) -> bool:
    """Create the output folder when it names no job (the spool's is owner-only); True when
    it names them (`%A`/`%a`), to be created per task once the array id is known."""
    folder = Path(output).parent
    if "%A" in str(folder) or "%a" in str(folder):
        return True
    try:
        folder.mkdir(mode=0o700 if folder == spool else 0o777, parents=True, exist_ok=True)
    except OSError as e:
        raise BackendError(f"cannot create the output folder {folder}: {e.strerror}") from None
    return False


#: After srun: a task that died of signal N makes srun exit 128 + N; the batch shell then dies
#: of N too, so that Slurm records the job as killed by it (SIGKILL: out of memory, `kill -9`)
#: as it did when the runner was the batch shell itself.
_DIE_AS_THE_TASK = [
    "status=$?",
    'if [ "$status" -gt 128 ] && [ "$status" -lt 160 ]; then kill -$((status - 128)) $$; fi',
    'exit "$status"',
]


def batch_script(
    options: list[str],
    setup: Sequence[str],
    command: list[str],
    shell: Sequence[str] = (),
    *,
    srun: bool = False,
) -> str:
    """The batch script running `command`, quoted but for its `shell` words (`$SLURM_...`):
    in its place (`exec`), or, for an `srun` command, followed by `_DIE_AS_THE_TASK`."""
    lines = ["#!/bin/bash", *(f"#SBATCH {shlex.quote(o)}" for o in options), *setup]
    quoted = " ".join(arg if arg in shell else shlex.quote(arg) for arg in command)
    run = [quoted, *_DIE_AS_THE_TASK] if srun else [f"exec {quoted}"]
    return "\n".join([*lines, *run, ""])


# --- rows -------------------------------------------------------------------------------------


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


def queue_row(
    job: int,
    task: int | None,
    name: str,
    verdict: Verdict,
    state: SlurmState,
    restarts: int,
    exit_code: int | None = None,
    signal: int | None = None,
    run_time: float | None = None,
    rerun_causes: tuple[str, ...] = (),
) -> QueueRow:
    """A Slurm job or array task as the refresh sees it, in its latest run (`restarts` runs came
    before it). Cancelled jobs (scancel, or a dependency that can never be met) will never run:
    SKIPPED, with Slurm's why. Ended ones carry their exit code and signal, and the why when the
    state says more (TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED...)."""
    base = dict(queue_id=job, task=task, label=name, restarts=restarts, rerun_causes=rerun_causes)
    if verdict.phase is Phase.QUEUED:
        return QueueRow(**base, state=RowState.QUEUED, reason=verdict.why or None)
    if verdict.phase is Phase.RUNNING:
        return QueueRow(**base, state=RowState.RUNNING)
    if verdict.ending is Ending.CANCELLED:
        why = verdict.why if verdict.why != "cancelled" else SCANCELLED
        return QueueRow(**base, state=RowState.SKIPPED, reason=why)
    never_ran = signal == LAUNCH_FAILED
    return QueueRow(
        **base,
        state=RowState.ENDED,
        exit_code=exit_code,
        signal=None if never_ran else signal or None,
        run_time=run_time,
        reason=verdict.why
        if never_ran or state not in (SlurmState.FAILED, SlurmState.COMPLETED)
        else None,
    )


@dataclass(frozen=True)
class SlurmQueue:
    """One look at Slurm for some jobs: their rows by (array id, task), and by name."""

    rows: Mapping[tuple[int, int | None], QueueRow]
    cluster: str
    alive: bool = True
    server_id: str | None = None
    name: str = "slurm"
    title: str = "Slurm"
    forgetting: str = "it is neither in sacct nor in the controller's memory (MinJobAge)"
    complete: bool = True  # squeue, sacct and scontrol print nothing this cannot read

    @property
    def where(self) -> str:
        return f"Slurm cluster {self.cluster}"

    @cached_property
    def by_name(self) -> dict[tuple[str | None, int | None], QueueRow]:
        return {named_task(row.label, row.task): row for row in self.rows.values()}

    def find(self, job: JobRef) -> QueueRow | None:
        if job.queue_id is not None:
            return self.rows.get((job.queue_id, array_task(job)))
        return self.by_name.get((array_name(job.label, job.attempt), job.num))

    def explain(self, row: QueueRow) -> QueueRow:
        return row


# --- the backend --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlurmBackend:
    """A Slurm cluster, as its clients (sbatch, squeue, sacct, scontrol, scancel) reach it:
    through `conf` (SLURM_CONF, recorded so that any shell refreshes the same cluster)."""

    cluster: str
    conf: str = ""
    name: str = "slurm"
    title: str = "Slurm"
    # `--dependency=afterany:<id>:<id>...`: a sweep dependency waits for the sweep's jobs.
    waits_for_many: bool = True

    @property
    def where(self) -> str:
        return f"Slurm cluster {self.cluster}"

    @classmethod
    def detect(cls) -> SlurmBackend:
        """The cluster this shell's clients talk to (refuses when they are not installed or
        the controller does not answer)."""
        if shutil.which("sbatch") is None:
            raise BackendError("Slurm's sbatch is not on the PATH (install slurm-client)")
        backend = cls(cluster="", conf=os.environ.get("SLURM_CONF", ""))
        return cls(cluster=backend.cluster_here(), conf=backend.conf)

    def _config(self, key: str) -> str | None:
        """One setting of the cluster this host's clients reach (`scontrol show config`)."""
        config = self._run(["scontrol", "show", "config"], "scontrol show config")
        return config_value(config.stdout, key)

    def cluster_here(self) -> str:
        """The name of the cluster this host's clients reach ("" when it has none)."""
        return self._config("ClusterName") or ""

    def reachable_here(self) -> bool:
        """Every host whose clients reach the same cluster (same `ClusterName`) can ask it:
        Slurm's job ids belong to the cluster, not to the login node that submitted them."""
        try:
            return self.cluster_here() == self.cluster
        except BackendError:
            return False

    @classmethod
    def of_record(cls, record: Mapping[str, Any]) -> SlurmBackend:
        where = record["backend_record"]
        return cls(cluster=record.get("backend_variant") or "", conf=where.get("conf") or "")

    def recorded(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "backend_variant": self.cluster,
            "backend_record": {"conf": self.conf},
        }

    def describe(self) -> str:
        conf = f" ({self.conf})" if self.conf else ""
        return f"slurm     : cluster {self.cluster or '(unnamed)'}{conf}"

    # -- running the clients

    def _run(
        self,
        argv: list[str],
        what: str,
        *,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        pass_fds: Sequence[int] = (),
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        environ = dict(os.environ if env is None else env)
        if self.conf:
            environ["SLURM_CONF"] = self.conf
        try:
            done = subprocess.run(
                argv,
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=environ,
                cwd=cwd,
                pass_fds=pass_fds,
                timeout=TIMEOUT,
            )
        except FileNotFoundError:
            raise BackendError(f"{argv[0]} is not installed (Slurm's clients)") from None
        except subprocess.TimeoutExpired:
            raise BackendError(f"{what} did not answer in {TIMEOUT:.0f} s") from None
        if check and done.returncode != 0:
            message = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
            raise BackendError(f"{what} failed: {message}")
        return done

    # -- submitting

    def _script(
        self,
        spec: Path,
        attempt: int,
        name: str,
        options: QueueOptions,
        extra: list[str],
        offset: int = 0,
    ) -> str:
        slurm = options.slurm
        output, error = output_paths(slurm, SpoolDir(spec.parent).slurm)
        num = task_word(offset)
        command = [*srun_command(slurm, output, error), *runner_argv(spec, num, attempt, RESTART)]
        setup = [
            *(str(line) for line in slurm.get("setup") or []),
            # submitit.JobEnvironment() finds Slurm's variables by this; the runner its ranks.
            f"export SUBMITIT_EXECUTOR=slurm {jobenv.QUEUE}=slurm",
            f"export {jobenv.MAX_NUM_TIMEOUT}={int(slurm.get('max_num_timeout') or 0)}",
            *(f'export {jobenv.OUTPUT_FD}{fd}="$(readlink /proc/$$/fd/{fd})"' for fd in (1, 2)),
        ]
        options_ = [*directives(slurm, name, output, error), *extra]
        return batch_script(options_, setup, command, shell=(num, RESTART), srun=True)

    def check_resources(self, options: QueueOptions) -> None:
        """Ask `sbatch --test-only` (~40 ms) whether Slurm accepts the options: its own
        message, in one line, before anything is queued."""
        script = self._script(Path(os.devnull), 1, "tsq-check", options, ["--array=0"])
        done = self._run(["sbatch", "--test-only"], "sbatch --test-only", stdin=script, check=False)
        if done.returncode != 0:
            raise BackendError(f"Slurm refuses these options: {sbatch_error(done.stderr)}")

    def _sbatch(self, script: str, options: QueueOptions, pass_fds: Sequence[int] = ()) -> int:
        done = self._run(
            ["sbatch", "--parsable"],
            "sbatch",
            stdin=script,
            env=options.job_environment(),
            cwd=options.cwd,
            pass_fds=pass_fds,
            check=False,
        )
        if done.returncode != 0:
            raise QueueRefused(f"Slurm refused the jobs: {sbatch_error(done.stderr)}")
        try:
            return parse_sbatch(done.stdout).job_id
        except SlurmParseError as e:
            raise BackendError(str(e)) from None

    def submit(
        self,
        argv: Sequence[str],
        label: str,
        options: QueueOptions,
        *,
        after: int | None = None,
        pass_fds: Sequence[int] = (),
    ) -> int:
        extra = [f"--dependency=afterany:{after}"] if after is not None else []
        script = batch_script([f"--job-name={label}", "--output=/dev/null", *extra], [], list(argv))
        return self._sbatch(script, options, pass_fds)

    def submit_batch(
        self,
        spec: Path,
        jobs: Sequence[JobRef],
        options: QueueOptions,
        *,
        after: Sequence[int] = (),
        hold: Callable[[JobRef], int],
    ) -> Iterator[Queued]:
        """One `sbatch --array` per attempt number among `jobs` (a launch: one; a retry of
        jobs at different attempts: one per attempt) and per `MaxArraySize` (`split_arrays`),
        each throttled by `array_parallelism` as submitit does. An array is queued whole or
        not at all; a refused one stops the batch, the arrays before it stay queued."""
        by_attempt: dict[int, list[JobRef]] = {}
        for job in jobs:
            by_attempt.setdefault(job.attempt, []).append(job)
        max_size = self.max_array_size()
        for attempt, group in sorted(by_attempt.items()):
            by_num = {job.num: job for job in group}
            for offset, nums in split_arrays(list(by_num), max_size):
                chunk = [by_num[num] for num in nums]
                array_id = self._submit_array(spec, attempt, chunk, offset, options, after, hold)
                for job in chunk:
                    yield Queued(job, array_id, str(job.num - offset))

    def batch_unit(self) -> int:
        return self.max_array_size()

    def max_array_size(self) -> int:
        """The cluster's `MaxArraySize`: array task ids must be below it."""
        value = self._config("MaxArraySize")
        try:
            return int(value or "")
        except ValueError:
            raise BackendError(f"scontrol show config gives no MaxArraySize ({value!r})") from None

    def _submit_array(
        self,
        spec: Path,
        attempt: int,
        jobs: list[JobRef],
        offset: int,
        options: QueueOptions,
        after: Sequence[int],
        hold: Callable[[JobRef], int],
    ) -> int:
        """Queue `jobs` as one array, task ids their numbers minus `offset`; its job id."""
        tasks = [job.num - offset for job in jobs]
        array = task_ranges(tasks)
        limit = int(options.slurm.get("array_parallelism") or 0)
        if limit > 0:
            array += f"%{min(limit, len(jobs))}"
        extra = [f"--array={array}"]
        if after:
            extra.append("--dependency=afterany:" + ":".join(map(str, after)))
        output, _ = output_paths(options.slurm, SpoolDir(spec.parent).slurm)
        per_task = _make_folder(output, SpoolDir(spec.parent).slurm)
        if per_task:  # held until each task's folder exists (the array id names them)
            extra.append("--hold")
        script = self._script(
            spec,
            attempt,
            array_name(jobs[0].label, jobs[0].attempt, offset),
            options,
            extra,
            offset,
        )
        claims = [hold(job) for job in jobs]
        try:
            array_id = self._sbatch(script, options, claims)
        finally:
            for claim in claims:
                os.close(claim)
        if per_task:
            folders = [task_folder(output, array_id, task) for task in tasks]
            user_hold = bool((options.slurm.get("additional_parameters") or {}).get("hold"))
            self._release(array_id, folders, release=not user_hold)
        return array_id

    def _release(self, array_id: int, folders: list[Path], *, release: bool) -> None:
        """Create the array's per-task output folders, then let it run (unless the user asked
        for it held); cancel it when either fails (an array is queued whole or not at all)."""
        try:
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
            if release:
                self._run(["scontrol", "release", str(array_id)], "scontrol release")
        except (OSError, BackendError) as e:
            self._run(["scancel", str(array_id)], "scancel", check=False)
            what = f"cannot create {e.filename}: {e.strerror}" if isinstance(e, OSError) else e
            raise BackendError(f"{what}; Slurm array {array_id} was cancelled") from None

    def server_id(self) -> str | None:
        return None  # a Slurm cluster keeps its job ids across controller restarts

    # -- looking

    def look(self, jobs: Sequence[JobRef], warnings: list[str]) -> SlurmQueue | None:
        try:
            return SlurmQueue(self._rows(jobs), self.cluster)
        except (BackendError, SlurmParseError) as e:
            warnings.append(f"could not ask Slurm ({e}); jobs on it left as they were")
            return None

    def _rows(self, jobs: Sequence[JobRef]) -> dict[tuple[int, int | None], QueueRow]:
        listing = self._run(["squeue", "--me", "-h", "-r", "-O", SQUEUE_FORMAT], "squeue")
        rows: dict[tuple[int, int | None], QueueRow] = {}
        for entry in parse_squeue(listing.stdout):
            verdict = entry.verdict()
            if verdict is not None and entry.state is not None:
                rows[entry.job, entry.task] = queue_row(
                    entry.job, entry.task, entry.name, verdict, entry.state, entry.restarts
                )
        # Per task: an array may have some tasks running (in squeue) and others ended.
        wanted: set[tuple[int, int]] = {
            (j.queue_id, array_task(j)) for j in jobs if j.queue_id is not None
        }
        missing = {job for job, _ in wanted - rows.keys()}
        # sacct -D says why Slurm ran a job again (its earlier runs' states).
        rerun = {key[0] for key, row in rows.items() if row.restarts and key in wanted}
        if not missing | rerun:
            return rows
        ids = ",".join(map(str, sorted(missing | rerun)))
        fields = ",".join(SACCT_FIELDS)
        done = self._run(
            ["sacct", "--parsable2", "-n", "-X", "-D", "-o", fields, "-j", ids],
            "sacct",
            check=False,
        )
        accounted = parse_sacct(done.stdout) if done.returncode == 0 else None
        for key, run in last_runs(accounted or []).items():
            acct = run.entry
            verdict = acct.verdict()
            if key in rows:
                rows[key] = replace(rows[key], rerun_causes=run.causes(rows[key].restarts or 0))
                continue
            if verdict is None or acct.state is None:
                continue
            rows[key] = queue_row(
                acct.job, acct.task, acct.name, verdict, acct.state, run.restarts,
                exit_code=acct.exit.code if acct.exit else None,
                signal=acct.exit.signal if acct.exit else None,
                run_time=_seconds(acct.start, acct.end),
                rerun_causes=run.causes(run.restarts),
            )  # fmt: skip
        missing_tasks = wanted - rows.keys()
        if not missing_tasks:
            return rows
        # Accounting off, sacct has not heard of them yet, or they never had a record.
        shown = self._run(["scontrol", "show", "job", "-o"], "scontrol show job")
        controller = parse_scontrol(shown.stdout)
        missing = {job for job, _ in missing_tasks}
        for record in controller:
            verdict = record.verdict()
            if record.job not in missing or verdict is None or record.state is None:
                continue
            for task in record.tasks or (None,):
                rows.setdefault(
                    (record.job, task),
                    queue_row(
                        record.job, task, record.name, verdict, record.state,
                        record.restarts,
                        exit_code=record.exit.code if record.exit else None,
                        signal=record.exit.signal if record.exit else None,
                        run_time=_seconds(record.start, record.end),
                    ),
                )  # fmt: skip
        for job, task in cancelled_unstarted(wanted - rows.keys(), accounted, controller):
            rows[job, task] = QueueRow(
                queue_id=job, task=task, label=None, state=RowState.SKIPPED,
                reason=f"{SCANCELLED} before it started", restarts=0,
            )  # fmt: skip
        return rows

    def has_job(self, queue_id: int) -> bool:
        done = self._run(["scontrol", "show", "job", "-o", str(queue_id)], "scontrol", check=False)
        return done.returncode == 0 and bool(done.stdout.strip())

    def stop(self, rows: Sequence[QueueRow]) -> list[Stopped]:
        """One `scancel` for every row: a task range per array (`123_[0-5,7]`), whatever their
        states (pending ones leave the queue, running ones get SIGTERM, then SIGKILL after the
        cluster's KillWait). scancel says nothing of ids that have ended meanwhile."""
        if not rows:
            return []
        done = self._run(["scancel", *scancel_targets(rows)], "scancel", check=False)
        if done.returncode != 0:
            why = " ".join(done.stderr.split()) or f"scancel exit status {done.returncode}"
            return [Stopped(error=why) for _ in rows]
        return [
            Stopped(removed=row.state is RowState.QUEUED, killed=row.state is not RowState.QUEUED)
            for row in rows
        ]

    def job_output(self, text: str) -> str:
        return text  # Slurm adds nothing to a job's output file
