"""The job's entry point; its queue runs `python -m tsq.runner SPEC NUM [ATTEMPT [RESTART]]`.

It rebuilds the parent's Hydra state, takes the job's config as the launcher composed it at
submit time (or, for a `hydra/sweeper=tsq` sweep, composes it from the frozen sources), runs it
through Hydra's own `run_job` (output dir, `.hydra/`, logging, callbacks), and leaves the
result files. It never opens the store, and imports neither SQLAlchemy nor alembic.

Exit status: 0 the task returned, 1 the task raised, 2 the job could not be set up (bad spec,
composition or logging error, ...), n the task called `sys.exit(n)` (`sys.exit(0)` or
`sys.exit()`: a completed job); every failure still leaves a result file saying why.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsq.files.commands import RunnerArgs
from tsq.files.jobspec import CodeSpec, JobSpec, ToCompose, read_job
from tsq.files.results import exit_status, write_result
from tsq.files.safeio import make_private_dir
from tsq.files.spool import SpoolDir
from tsq.files.started import Started
from tsq.job.compose import composed
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

    def __init__(self, path: Path, started_at: float) -> None:
        self._inner: Callbacks | None = None
        self._path = path
        self._record = Started(
            pid=os.getpid(), started_at=started_at, stdout=_output_file(1), stderr=_error_file()
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
    after the queue has forgotten the job."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    return target if target.startswith("/") else None


def _install_main(code: CodeSpec) -> None:
    """The app's script becomes the job's `__main__` before the spec is unpickled: what the
    launch pickled by name from `__main__` is found in it (`tsq.job.toplevel`)."""
    if code.top_level and code.main_file:
        install_main(code.main_file, code.main_module)


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
        cfg.hydra.job.id = f"{job.batch.sweep_id}_{num}"
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


def _note_time_limit(signum: int, frame: Any) -> None:
    print(
        "tsq: Slurm sent SIGUSR2: the job's time limit is signal_delay_s away; it runs on "
        "(a task that handles SIGUSR2 itself can checkpoint then)",
        file=sys.stderr,
        flush=True,
    )


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
    if "SLURM_JOB_ID" in os.environ:
        # Slurm's early warning (`signal_delay_s`) would kill a job that did not expect it, as
        # SIGUSR2 does by default: noted, as submitit does for jobs that cannot checkpoint. A
        # task that sets its own handler replaces this one.
        signal.signal(signal.SIGUSR2, _note_time_limit)
    spec_path, num, attempt = args.spec.resolve(), args.num, args.attempt
    spool = SpoolDir(spec_path.parent)
    make_private_dir(spool.jobs)
    if args.restart and spool.started(num, attempt).exists():
        # Slurm ran an ended job again after `tsq retry` had queued its next attempt: that
        # attempt's files are the retry's, and the store follows the retry.
        print(
            f"tsq: attempt {attempt} of job {num} was queued by `tsq retry`; this rerun of an "
            "earlier attempt does not run",
            file=sys.stderr,
        )
        return EXIT_SETUP_FAILED
    if sys.path and sys.path[0] == os.getcwd():
        # `python -m tsq.runner` put the job's working directory (the launch's) first on
        # `sys.path`; the launch had its own entries, which the spec gives (pointed at the code
        # snapshot): a module the launch could not import from there must not come live.
        del sys.path[0]
    start = _ReportStart(spool.started(num, attempt), started_at)
    overrides: list[str] | None = None
    failed_exit = EXIT_TASK_FAILED
    try:
        job = read_job(spec_path, num, _install_main)
        overrides = list(job.batch.overrides[num])
        job_return = run_one(job, num, start)
    except BaseException as e:  # anything outside the task, or SystemExit/^C from the task
        failed_exit = EXIT_SETUP_FAILED if start.output_dir is None else EXIT_TASK_FAILED
        if isinstance(e, SystemExit) and start.output_dir is not None:
            failed_exit = exit_status(e)  # the task's sys.exit(n): the job ends as it asked
        if failed_exit:
            traceback.print_exc()
        job_return = _escaped(overrides, e, failed_exit)
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
