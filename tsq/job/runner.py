"""The job's entry point; its queue runs `python -m tsq.runner SPEC NUM [ATTEMPT [RESTART]]`.

It rebuilds the parent's Hydra state, takes the job's config as the launcher composed it at
submit time (or, for a `hydra/sweeper=tsq` sweep, composes it from the frozen sources), runs it
through Hydra's own `run_job` (output dir, `.hydra/`, logging, callbacks), and leaves the
result files. It never opens the store, and imports neither SQLAlchemy nor alembic.

Exit status: 0 the task returned, 1 the task raised, 2 the job could not be set up (bad spec,
composition or logging error, ...), n the task called `sys.exit(n)` (`sys.exit(0)` or
`sys.exit()`: a completed job); every failure still leaves a result file saying why.

In a multi-task Slurm job every task runs this, one rank each (`tsq.job.ranks`): rank 0 writes
the job's files, the others records of their own that rank 0 folds into the one result.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsq import jobenv
from tsq.files.commands import RunnerArgs
from tsq.files.jobspec import CodeSpec, JobSpec, ToCompose, read_job
from tsq.files.results import exit_status, write_result
from tsq.files.safeio import make_private_dir
from tsq.files.spool import SpoolDir
from tsq.files.started import Started
from tsq.job.compose import composed
from tsq.job.ranks import Place, Ranks, end_rank
from tsq.job.timelimit import TimeLimit
from tsq.job.toplevel import install_main

if TYPE_CHECKING:  # imported when the job needs them, not to start the job
    from hydra.core.callbacks import Callbacks
    from hydra.core.utils import JobReturn
    from omegaconf import DictConfig

EXIT_TASK_FAILED = 1
EXIT_SETUP_FAILED = 2
EXIT_NO_RESULT = 3


class _ReportStart:
    """Keeps the job's `started` record (`tsq.files.started`). It is written as soon as the job
    process runs (pid, start time, the file its queue captures its output in), so `status` and
    `tsq logs` find a job that fails before its task starts (an app that no longer imports, a
    bad logging config); Hydra's `on_job_start` rewrites it with the output dir and job log. It
    exists before the spec is read (the runner needs its `output_dir` whatever happens); `wrap`
    gives it the callbacks the spec carries."""

    def __init__(self, path: Path, started_at: float, place: Place) -> None:
        self._inner: Callbacks | None = None
        self._path = path
        self._record = Started(
            pid=os.getpid(),
            started_at=started_at,
            stdout=_output_file(1),
            stderr=_error_file(),
            rank=place.rank,
            ranks=place.ranks,
            host=socket.gethostname() if place.ranks > 1 else None,
        )
        self._record.write(path)

    @property
    def output_dir(self) -> str | None:
        return self._record.output_dir

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        from omegaconf import OmegaConf

        self._record = replace(
            self._record,
            output_dir=str(config.hydra.runtime.output_dir),
            log_file=OmegaConf.select(config, "hydra.job_logging.handlers.file.filename"),
        )
        self._record.write(self._path)
        assert self._inner is not None, "wrap() gives the callbacks before the job starts"
        self._inner.on_job_start(config=config, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def wrap(self, callbacks: Callbacks) -> _ReportStart:
        self._inner = callbacks
        return self


def _error_file() -> str | None:
    """Where fd 2 goes, when it is a regular file of its own (Slurm's `--error`)."""
    path = _output_file(2)
    return path if path is not None and os.path.isfile(path) else None


def _output_file(fd: int) -> str | None:
    """The file the queue captures the job's output (fd 1) or errors (fd 2) in (ts -l shows
    it only while it lists the job; Slurm's `%A_%a` names resolved): `tsq logs` finds it here
    after the queue has forgotten the job. A Slurm task's output may reach the job's file
    through srun (a pipe or a pty): the batch script names that file (`jobenv.OUTPUT_FD`)."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        target = ""
    if not os.path.isfile(target):
        target = os.environ.get(f"{jobenv.OUTPUT_FD}{fd}", target)
    return target if target.startswith("/") else None


def _install_main(code: CodeSpec) -> None:
    """The app's script becomes the job's `__main__` before the spec is unpickled: what the
    launch pickled by name from `__main__` is found in it (`tsq.job.toplevel`)."""
    if code.top_level and code.main_file:
        install_main(code.main_file, code.main_module)


def job_id(sweep_id: str, num: int) -> str:
    """`hydra.job.id`: Slurm's id of the job's task, as submitit gives it (`<array id>_<task>`
    for an array task), else `<sweep id>_<num>`."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID") or f"{sweep_id}_{num}"


def run_one(job: JobSpec, num: int, start: _ReportStart) -> JobReturn:
    """What BasicLauncher does for one job, in this interpreter: its config was composed at
    submit time, or (`hydra/sweeper=tsq`) is composed here from what the launch froze
    (`tsq.job.compose`); a config that does not compose fails the job as not set up.

    `run_job` reads only the callbacks from its `hydra_context`: the config loader is for
    composing, so none is shipped."""
    from hydra.core.singleton import Singleton
    from hydra.core.utils import run_job, setup_globals
    from hydra.types import HydraContext
    from omegaconf import open_dict, read_write

    # The script's own set-up (resolvers, ConfigStore entries) ran in `read_job` (see
    # `_install_main`); Hydra's state as it was at launch replaces it.
    Singleton.set_state(job.batch.singleton_state)
    setup_globals()
    cfg = composed(job.batch, num, job.config) if isinstance(job.config, ToCompose) else job.config
    with read_write(cfg), open_dict(cfg):
        cfg.hydra.job.id = job_id(job.batch.sweep_id, num)
        cfg.hydra.job.num = num
    return run_job(
        hydra_context=HydraContext(config_loader=None, callbacks=start.wrap(job.batch.callbacks)),
        task_function=job.batch.task_function,
        config=cfg,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def _escaped(overrides: list[str] | None, exc: BaseException, exit_code: int) -> JobReturn:
    """The JobReturn of an exception that escaped Hydra's `run_job`: a failure, unless it is
    the task's own `sys.exit(0)`, which ends the job as completed, returning None."""
    from hydra.core.utils import JobReturn, JobStatus

    if exit_code == 0:
        return JobReturn(overrides=overrides, status=JobStatus.COMPLETED)
    return JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=exc)


def main(argv: list[str] | None = None) -> int:
    args = RunnerArgs.parse(sys.argv[1:] if argv is None else argv)
    if args is None:
        print(
            "usage: python -m tsq.runner SPEC NUM [ATTEMPT [RESTART]]  (run by its queue, not "
            "by hand)",
            file=sys.stderr,
        )
        return EXIT_SETUP_FAILED
    started_at = time.time()
    spec_path, num, attempt = args.spec.resolve(), args.num, args.attempt
    spool = SpoolDir(spec_path.parent)
    place = Place.here(os.environ)
    make_private_dir(spool.jobs)
    if "SLURM_JOB_ID" in os.environ:
        # Slurm's early warning (`signal_delay_s`) would kill a job that did not expect it, as
        # SIGUSR2 does by default: noted, or the job requeued (`max_num_timeout`). A task
        # that sets its own handler replaces this one.
        max_num_timeout = int(os.environ.pop(jobenv.MAX_NUM_TIMEOUT, "0") or 0)
        TimeLimit(spool, num, attempt, args.restart, place.rank, max_num_timeout).install()
    started_path = (
        spool.started(num, attempt)
        if place.rank == 0
        else spool.rank_started(num, attempt, place.rank)
    )
    if args.restart and started_path.exists():
        # Slurm ran an ended job again after `tsq retry` had queued its next attempt: that
        # attempt's files are the retry's, and the store follows the retry.
        print(
            f"tsq: attempt {attempt} of job {num} was queued by `tsq retry`; this rerun of an "
            "earlier attempt does not run",
            file=sys.stderr,
        )
        return EXIT_SETUP_FAILED
    os.environ.update(
        {
            jobenv.JOB_NUM: str(num),
            jobenv.ATTEMPT: str(attempt),
            jobenv.RESTART: str(args.restart),
        }
    )
    if sys.path and sys.path[0] == os.getcwd():
        # `python -m tsq.runner` put the job's working directory (the launch's) first on
        # `sys.path`; the launch had its own entries, which the spec gives (pointed at the code
        # snapshot): a module the launch could not import from there must not come live.
        del sys.path[0]
    start = _ReportStart(started_path, started_at, place)
    ranks = Ranks(spool, num, attempt, place.ranks)
    if place.rank == 0 and place.ranks > 1:
        ranks.stop_when_a_rank_fails()
    overrides: list[str] | None = None
    failed_exit = EXIT_TASK_FAILED
    try:
        job = read_job(spec_path, num, _install_main)
        os.environ[jobenv.JOB_ID] = job_id(job.batch.sweep_id, num)
        overrides = list(job.batch.overrides[num])
        job_return = run_one(job, num, start)
    except BaseException as e:  # anything outside the task, or SystemExit/^C from the task
        failed_exit = EXIT_SETUP_FAILED if start.output_dir is None else EXIT_TASK_FAILED
        if isinstance(e, SystemExit) and start.output_dir is not None:
            failed_exit = exit_status(e)  # the task's sys.exit(n): the job ends as it asked
        if failed_exit:
            traceback.print_exc()
        job_return = _escaped(overrides, e, failed_exit)
    if place.rank > 0:
        return end_rank(
            spool, num, attempt, place, job_return,
            started_at=started_at, output_dir=start.output_dir, failed_exit=failed_exit,
        )  # fmt: skip
    if place.ranks > 1:
        own_exit = _exit_of(job_return, failed_exit)
        job_return, failed_exit = ranks.gather(job_return, time.time(), own_exit)
    try:
        summary = write_result(
            spool.result_pickle(num, attempt),
            spool.result_json(num, attempt),
            job_return,
            started_at=started_at,
            ended_at=time.time(),
            output_dir=start.output_dir,
            failed_exit=failed_exit,
        )
    except Exception:
        traceback.print_exc()
        print(f"tsq: could not write the result of job {num} in {spool.jobs}", file=sys.stderr)
        return EXIT_NO_RESULT
    if summary.error:
        print(f"tsq: job {num} failed: {summary.error}", file=sys.stderr)
    return summary.exit_code


def _exit_of(job_return: JobReturn, failed_exit: int) -> int:
    """The exit status a job ends with for `job_return` (0: it completed)."""
    from hydra.core.utils import JobStatus

    return 0 if job_return.status == JobStatus.COMPLETED else failed_exit
