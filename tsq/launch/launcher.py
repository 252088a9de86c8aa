"""The parent side of a sweep: compose the jobs' configs, write the batch spec, record, queue in ts.

Imported lazily by the Hydra plugin, so Hydra apps that never use the ts launcher pay nothing.
Order of work in a batch, so that nothing is lost or recorded half-way:
spec written (refuses what cannot be pickled, before anything is recorded) -> one transaction
records every job as queued with no ts id -> each job queued in ts -> one transaction stores the
ts ids (see `tsq.launch.submit` for what an interruption part-way leaves).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from hydra.core.utils import JobReturn

from tsq.backends import backend_for
from tsq.backends.queueing import QueueOptions
from tsq.errors import TsqError
from tsq.files.commands import barrier_argv
from tsq.files.jobspec import BatchSpec, CodeSpec, ComposeSpec, write_spec
from tsq.files.labels import barrier_label, make_label
from tsq.files.safeio import write_atomic
from tsq.frozen import freeze_imports
from tsq.hosts import this_host
from tsq.launch.adopt import write_record
from tsq.launch.compose import Composed, record_composes
from tsq.launch.configdirs import file_dirs, freeze
from tsq.launch.defaultdir import sweep_dir_of
from tsq.launch.depends import resolve
from tsq.launch.reuse import (
    Reused,
    code_identity,
    completions,
    reuse_key,
    reused_line,
    take_results,
)
from tsq.launch.snapshot import (
    Limits,
    Provenance,
    Snapshot,
    project_of,
    provenance_of,
    snapshot_lines,
    snapshot_store,
    take,
)
from tsq.launch.submit import open_queue, require_passed, submit_jobs
from tsq.launch.sweepdir import claim_sweep_dir, release_sweep_dir
from tsq.launch.sweeper import TSQ_SWEEPER
from tsq.ops.feed import FeedPlan, room, start_feeder
from tsq.options import CommonOptions
from tsq.render.words import next_command, plural
from tsq.states import JobState
from tsq.store import (
    INTENT_HOLD,
    INTENT_SUBMIT,
    LONG_PATIENCE_S,
    PATIENCE_S,
    STORE_FILES,
    Job,
    Store,
    Sweep,
)

log = logging.getLogger(__name__)

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
# A launch queues its jobs in parts of about this many (`SweepLauncher.launch`).
PART = 1000


@dataclass(frozen=True)
class PendingJob:
    """What a non-blocking launch hands back in place of a return value."""

    sweep_id: str
    num: int
    # None: held in the store until the queue has room (`tsq.ops.feed`), or never queued:
    # the job reused a completed one's result (`reuse=true`, `tsq.launch.reuse`).
    queue_id: int | None
    label: str


@dataclass
class PendingJobReturn(JobReturn):
    """A queued job: its status stays UNKNOWN, which is the truth, but reading `return_value`
    (Hydra's BasicSweeper reads it for every job) gives the PendingJob handle instead of failing."""

    pending: PendingJob | None = field(default=None)

    @property  # type: ignore[override]
    def return_value(self) -> PendingJob | None:
        return self.pending


def sweeper_of(config: Any) -> str:
    return str(config.hydra.sweeper.get("_target_", ""))


class _Part(NamedTuple):
    """What `SweepLauncher._launch_part` did with its jobs."""

    queued: int
    held: int  # in the store, past `max_queued`
    queue_ids: dict[int, int]  # job num -> queue id, of those queued
    reused: list[Reused]  # recorded completed, with a result of the same config and code


@dataclass(frozen=True)
class PendingReturns(Sequence[JobReturn]):
    """A non-blocking launch's JobReturns, each made when it is read (Hydra's sweepers read
    every one once): a launch holds none of them, whatever the number of jobs."""

    sweep_id: str
    task_name: str
    nums: range
    overrides: Sequence[Sequence[str]]
    queue_ids: dict[int, int]

    def __len__(self) -> int:
        return len(self.nums)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        num = self.nums[index]
        label = make_label(self.task_name, self.sweep_id, num)
        return PendingJobReturn(
            overrides=list(self.overrides[index]),
            task_name=self.task_name,
            pending=PendingJob(self.sweep_id, num, self.queue_ids.get(num), label),
        )


def check_sweeper(config: Any, wait: bool) -> None:
    sweeper = sweeper_of(config)
    if not wait and sweeper not in (BASIC_SWEEPER, TSQ_SWEEPER):
        raise TsqError(
            f"the sweeper {sweeper} reads each job's return value before it proposes the next "
            f"jobs, and this launcher does not wait for jobs; add hydra.launcher.wait=true"
        )


INSTALLED = "an installed package"


def check_reuse(options: CommonOptions, app: App, sweeper: str) -> None:
    """`reuse=true` compares the code of jobs by their snapshots and their configs as composed
    at launch: refuse it where there is no snapshot, before anything is queued (a job would be
    reused though its code changed), and with `hydra/sweeper=tsq` (its jobs compose their own
    configs: the launch never sees them)."""
    if not options.reuse:
        return
    if sweeper == TSQ_SWEEPER:
        raise TsqError(
            "hydra.launcher.reuse=true compares the jobs' configs as composed at launch, and "
            "hydra/sweeper=tsq composes each job's config in the job; launch with Hydra's basic "
            "sweeper to reuse finished jobs; nothing was queued"
        )
    why = None
    if not options.snapshot:
        why = "snapshot=false"
    elif app.installed is not None:
        why = f"the task comes from {INSTALLED} ({app.installed})"
    elif app.project is None:
        why = "the task has no source file"
    if why is not None:
        raise TsqError(
            f"hydra.launcher.reuse=true needs the code snapshot to tell that a job's code is "
            f"the same, and there is none: {why}; nothing was queued"
        )


@dataclass(frozen=True)
class App:
    """Where the app's code is, as a launch finds it before anything is snapshotted."""

    main_file: str | None = None  # the script each job runs as its `__main__` (tsq.job.toplevel)
    main_module: str | None = None  # what `python -m` ran, so the job runs it with its package
    code_file: str | None = None  # the task's file: its project is snapshotted
    code_module: str | None = None  # the task's module name (finds its project outside git)
    project: Path | None = None
    in_git: bool = False
    installed: str | None = None  # the task comes from an installed package: this directory


def find_app(task_function: Any) -> App:
    """The app's script and project, from its task function.

    The task's own file decides the project, not whatever runs as `__main__`: a wrapper
    (cProfile, pdb, debugpy) may, and so may a thin script or a console-script entry point
    that imports the task from a module of the project (`from mypkg.train import main`). That
    script is still the app's `__main__`, run in the job, when it lies in the project. No
    file (a notebook, Hydra's compose API): nothing to snapshot or run. A task from an
    installed package (site-packages) runs as installed.
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    main_path = getattr(main, "__file__", None)
    code = getattr(task_function, "__code__", None)
    task_file = code.co_filename if code and os.path.isfile(code.co_filename) else None
    if task_file is None:
        return App()
    task_module = getattr(task_function, "__module__", None)
    if task_module == "__main__":
        # Under a wrapper, `__main__` and its module name are the wrapper's.
        module = getattr(spec, "name", None) if main_path == task_file else None
        project, in_git = project_of(Path(task_file), module)
        return App(task_file, module, task_file, module, project, in_git)
    if any(part in ("site-packages", "dist-packages") for part in Path(task_file).parts):
        return App(installed=str(Path(task_file).parent))
    project, in_git = project_of(Path(task_file), task_module)
    script = main_path if isinstance(main_path, str) and os.path.isfile(main_path) else None
    if script is None or not Path(script).resolve().is_relative_to(project):
        return App(None, None, task_file, task_module, project, in_git)
    return App(script, getattr(spec, "name", None), task_file, task_module, project, in_git)


class SweepLauncher:
    """One per Hydra launcher instance; a sweep may arrive in several `launch()` batches."""

    def __init__(
        self, options: CommonOptions, *, config: Any, hydra_context: Any, task_function: Any
    ) -> None:
        check_sweeper(config, options.wait)
        self.options = options
        self.config = config
        self.callbacks = hydra_context.callbacks
        self.task_function = task_function
        self.app = find_app(task_function)
        check_reuse(options, self.app, sweeper_of(config))
        # `hydra/sweeper=tsq`: each job composes its own config (`tsq.job.compose`), from the
        # launch's search path with its config dirs frozen (`tsq.launch.configdirs`).
        self.composes = (
            None
            if sweeper_of(config) == TSQ_SWEEPER
            else record_composes(hydra_context, config, self.app.main_file is not None)
        )
        self.search_path = [
            (str(entry.provider), str(entry.path))
            for entry in hydra_context.config_loader.get_search_path().get_path()
        ]
        self.compose: ComposeSpec | None = None
        self.backend, self.queueing = open_queue(options)
        require_passed(self.queueing, "launch")
        # A launcher that waits for its jobs (wait=true) rides out a database server's restart.
        patience = LONG_PATIENCE_S if options.wait else PATIENCE_S
        self.store = Store.open(options.store, create=True, patience=patience)
        dependency = resolve(options.depends_on, self.backend, self.store, self._after_sweep)
        self.after, self.after_sweep = dependency.after, dependency.sweep
        self.sweep: Sweep | None = None
        self._feeding = 0  # the feeder's pid, once started (`tsq.ops.feed`)
        # ts only: how many of the sweep's jobs may wait in the queue at once (`tsq.ops.feed`)
        self.max_queued: int | None = getattr(options, "max_queued", None)
        if self.max_queued is not None and self.max_queued < 1:
            raise TsqError(f"hydra.launcher.max_queued={self.max_queued}: it must be at least 1")
        self.state: Any = None
        self.code = CodeSpec.as_launched()
        self.snapshot: Snapshot | None = None
        self.provenance: Provenance | None = None
        self.code_id: str | None = None  # what the jobs run, for their reuse keys
        # Last, once every other check has passed, and in setup: Hydra's sweeper writes the
        # sweep dir's multirun.yaml after setup and before the first launch().
        self.sweep_id = secrets.token_hex(6)
        try:
            # Hydra's default dir, taken by a sweep of the same second: this sweep's own instead.
            self.sweep_dir, self.default_taken = sweep_dir_of(config)
            # The lease is held for the launcher's life: the jobs of each batch name it until
            # they are queued, and it marks the sweep dir as in use.
            self.spool, self.lease = claim_sweep_dir(self.sweep_dir, self.sweep_id, self.store)
        except OSError as e:
            raise TsqError(
                f"cannot create the sweep's files in {self.sweep_dir}: {e.strerror or e}; "
                "nothing was queued"
            ) from None
        atexit.register(self._release_if_unrecorded)
        freeze_imports()  # last: Hydra composes the sweep's jobs next (before `launch`)

    def _after_sweep(self, ref: str) -> Sweep:
        """The sweep `ref` names, refreshed so the barrier watches only its unfinished jobs."""
        from tsq.refresh.update import refresh

        sweep = self.store.find_sweep(ref)
        refresh(self.store, sweep.id)
        return sweep

    def _queue_barrier(self, sweep: Sweep) -> int | None:
        """Queue the job that ends once `depends_on`'s sweep has; None if it already has."""
        assert self.after_sweep is not None
        watch = watch_list(self.store, self.after_sweep)
        if watch is None:
            return None
        path = self.spool.after(self.after_sweep.id)
        write_atomic(path, json.dumps(watch).encode())
        return self.backend.submit(
            barrier_argv(path),
            barrier_label(sweep.task_name, sweep.id, self.after_sweep.id),
            QueueOptions(),
        )

    def _release_if_unrecorded(self) -> None:
        """At exit: give the sweep dir back if this launch ended before its sweep was recorded
        (a bad override refused by the sweeper, a task that cannot be pickled, Ctrl-C...).
        Nothing refers to such a sweep, and its claim would refuse the corrected relaunch."""
        if self.sweep is None:
            release_sweep_dir(self.spool)

    def _take_code(self) -> None:
        """Snapshot the app's project (or only record where its code comes from), once per
        sweep, before anything is recorded: a refusal leaves nothing behind."""
        app = self.app
        if app.project is None:
            self.code = CodeSpec.as_launched()
            if app.installed is not None:
                self.provenance = Provenance(project=app.installed, note=INSTALLED)
            return
        main_file = app.main_file or app.code_file
        assert main_file is not None and app.code_file is not None
        top_level = app.main_file is not None
        if not self.options.snapshot:
            self.provenance = provenance_of(app.project, app.in_git)
            self.code = replace(
                CodeSpec.as_launched(), top_level=top_level, main_module=app.main_module
            )
            return
        store = self.store.path
        snapshots = snapshot_store(self.options.snapshot_dir, store)
        # tsq's own files, should the project hold them (a store in the app's directory)
        own = [] if store is None else [store.with_name(store.name + end) for end in STORE_FILES]
        self.snapshot = take(
            Path(app.code_file),
            app.code_module,
            snapshots,
            Limits(
                max_file_bytes=int(self.options.snapshot_max_file_mb * 1e6),
                max_total_bytes=int(self.options.snapshot_max_mb * 1e6),
            ),
            sweep=self.sweep_id,
            owner=self.store.display,
            exclude=[snapshots, *own],
        )
        self.provenance = self.snapshot.provenance
        self.code_id = code_identity(self.snapshot.id, app.project, main_file, self.task_function)
        self.code = replace(
            self.snapshot.code_spec(main_file, top_level), main_module=app.main_module
        )

    def _start_sweep(self) -> Sweep:
        from hydra.core.singleton import Singleton

        self._take_code()
        if self.composes is None:
            dirs = file_dirs(self.search_path, self.config)
            frozen = freeze(dirs, self.spool.configs)
            self.compose = ComposeSpec(self.config, self.search_path, frozen)
        self.state = Singleton.get_state()
        provenance = self.provenance
        return Sweep(
            id=self.sweep_id,
            created_at=time.time(),
            task_name=str(self.config.hydra.job.name),
            app=sys.argv[0],
            cwd=os.getcwd(),
            sweep_dir=str(self.sweep_dir),
            spool_dir=str(self.spool.root),
            **self.backend.recorded(),
            launcher_pid=os.getpid(),
            hostname=this_host(),
            njobs=0,
            project=provenance.project if provenance else None,
            snapshot=str(self.snapshot.code) if self.snapshot else None,
            git_commit=provenance.git_commit if provenance else None,
            git_branch=provenance.git_branch if provenance else None,
            git_dirty=provenance.git_dirty if provenance else None,
        )

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Queue a batch: in parts of about `PART` jobs (each its spec, launch record, store
        transaction and queueing), so that a launch of 10,000 jobs holds no more of them at
        once than one of 1,000; then one report, and the jobs' returns, made as they are
        read."""
        first = self.sweep is None
        unit = self.backend.batch_unit()
        step = unit * max(1, PART // unit)
        queued = held = 0
        queue_ids: dict[int, int] = {}
        reused: list[Reused] = []
        for start in range(0, max(len(job_overrides), 1), step):
            part = job_overrides[start : start + step]
            in_queue = None if start == 0 else queued
            done = self._launch_part(part, initial_job_idx + start, in_queue)
            queued, held = queued + done.queued, held + done.held
            queue_ids.update(done.queue_ids)
            reused += done.reused
        sweep = self.sweep
        assert sweep is not None
        if held:
            self._start_feeder(held)
        if first and (self.options.notify or self.options.retry.asked):
            self._start_notifier(sweep, self.options.notify)
        self._report(sweep, queued, reused, len(job_overrides))
        nums = range(initial_job_idx, initial_job_idx + len(job_overrides))
        if self.options.wait:
            return self._wait(sweep, list(nums))
        return PendingReturns(sweep.id, sweep.task_name, nums, job_overrides, queue_ids)

    def _launch_part(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int, in_queue: int | None
    ) -> _Part:
        """Spec, record, store and queue for consecutive jobs (`reuse=true`: those not reused).
        `in_queue`: see `_hold_past_room`."""
        first = self.sweep is None
        sweep = self._start_sweep() if first else self.sweep
        assert sweep is not None
        nums = range(initial_job_idx, initial_job_idx + len(job_overrides))
        overrides = {num: list(ov) for num, ov in zip(nums, job_overrides, strict=True)}
        spec_path = self.spool.spec(initial_job_idx)
        composes = self.composes
        composed = {} if composes is None else {n: composes.take(ov) for n, ov in overrides.items()}
        queueing = self.queueing
        write_spec(
            spec_path,
            queueing.as_json(),
            BatchSpec(
                sweep_id=sweep.id,
                task_function=self.task_function,
                callbacks=self.callbacks,
                singleton_state=self.state,
                overrides=overrides,
                compose=self.compose,
            ),
            {num: config.pickled for num, config in composed.items()},
            self.code,
        )
        now = time.time()
        jobs = [
            Job(
                num=num,
                overrides=ov,
                label=make_label(sweep.task_name, sweep.id, num),
                state=JobState.QUEUED,
                updated_at=now,
                version=0,
                intent=INTENT_SUBMIT,
                lease=self.lease.token,
                host=sweep.hostname,
                reuse_key=self._reuse_key(num, composed.get(num)),
            )
            for num, ov in overrides.items()
        ]
        del composed
        reused = take_results(self.store, self.spool, jobs) if self.options.reuse else []
        taken = {id(item.job) for item in reused}
        to_run = [job for job in jobs if id(job) not in taken]
        held = self._hold_past_room(sweep.id, to_run, 0 if first else in_queue)
        # Before the store: should it be lost, `tsq adopt` records the batch again from this.
        write_record(self.spool, initial_job_idx, sweep, jobs)
        if first:
            if self.after_sweep is not None:
                barrier = self._queue_barrier(sweep)
                self.after = () if barrier is None else (barrier,)
            sweep.njobs = len(jobs)
            self.store.add_sweep(sweep, jobs)
            self.sweep = sweep
        else:
            self.store.add_jobs(sweep.id, jobs)
        if reused:
            self.store.apply(completions(reused))
        queued = to_run[: len(to_run) - len(held)]
        submitted = {}
        if queued:
            submitted = submit_jobs(
                self.store,
                self.backend,
                sweep,
                spec_path,
                queued,
                queueing,
                self.lease,
                self._command("status", sweep.id),
                after=self.after,
            )
        return _Part(len(queued), len(held), submitted, reused)

    def _reuse_key(self, num: int, composed: Composed | None) -> str | None:
        """The job's key (`tsq.launch.reuse`), kept whether this launch reuses or not: a later
        one may reuse its result. None without a snapshot (its code is not known) and for a job
        that composes its own config (`hydra/sweeper=tsq`: the launch never sees it)."""
        if self.code_id is None or composed is None:
            return None
        return reuse_key(self.code_id, composed.task, num)

    def _wait(self, sweep: Sweep, nums: list[int]) -> list[JobReturn]:
        """Block until the batch has ended and hand back the jobs' real JobReturns, built by
        the same code as `tsq.collect()`; a failed job's return_value raises, as with Hydra's
        basic launcher."""
        from tsq.ops.collector import finished
        from tsq.ops.wait import Progress, wait_for_jobs

        progress = Progress(f"tsq: sweep {sweep.id}")
        try:
            jobs = wait_for_jobs(self.store, sweep.id, nums, progress)
        except KeyboardInterrupt:
            raise TsqError(
                f"stopped waiting: the jobs of sweep {sweep.id} stay queued in "
                f"{self.backend.name} and recorded; "
                f"follow them with: {self._command('status', sweep.id)}"
            ) from None
        done, _ = finished(sweep, jobs)
        return [item.job_return() for item in done]

    def _hold_past_room(self, sweep_id: str, jobs: list[Job], in_queue: int | None) -> list[Job]:
        """The jobs past `max_queued` (ts), recorded as held in the store (`tsq.ops.feed`).
        `in_queue`: how many of the sweep's jobs this launch has put in the queue so far, or
        None for the first part of a later batch, whose sweep's earlier jobs may have ended
        (the store says). Later parts of a batch count without asking the store: jobs that
        ended while the batch was queued leave room the feeder fills."""
        if self.max_queued is None:
            return []
        if in_queue is None:
            free = room(FeedPlan(self.max_queued), self.store.active_jobs(sweep_id))
        else:
            free = max(0, self.max_queued - in_queue)
        held = jobs[free:]
        for job in held:
            job.intent, job.lease = INTENT_HOLD, None
        return held

    def _start_feeder(self, count: int) -> None:
        """Once per sweep: the feeder queues the held jobs as the sweep's jobs in ts end."""
        assert self.max_queued is not None
        if not self._feeding:
            FeedPlan(self.max_queued, tuple(self.after)).write(self.spool.root)
            self._feeding = start_feeder(self.spool.root, self._store_location())
        log.info(
            f"tsq: {plural(count, 'more job')} wait in the store (max_queued={self.max_queued}), "
            f"queued in {self.backend.name} as the sweep's jobs there end; feeder pid "
            f"{self._feeding}"
        )

    def _store_location(self) -> str:
        from tsq.store.engine import default_location

        return str(self.options.store or default_location())

    def _start_notifier(self, sweep: Sweep, command: str | None) -> None:
        """`notify`: a watcher outside the queue runs `command` once the sweep has ended;
        `retry`: it queues jobs again by cause meanwhile, whatever else runs."""
        from tsq.ops import notify

        pid = notify.start(self.spool.root, sweep.id, command, self._store_location())
        if self.options.retry.asked:
            log.info(f"tsq: retry: {self.options.retry.describe()} (watcher pid {pid})")
        if command:
            log.info(f"tsq: once every job has ended, watcher pid {pid} runs: {command}")

    def _command(self, verb: str, sweep_id: str) -> str:
        return next_command(verb, sweep_id, self.store.display if self.options.store else None)

    def _code_line(self) -> str:
        if self.provenance is None:
            return ""
        line = f"\tcode      : {self.provenance.describe()}\n"
        if self.snapshot is None:
            why = "snapshot=false" if not self.options.snapshot else INSTALLED
            return f"{line}\t            not snapshotted ({why}): jobs import it from disk\n"
        return line + "".join(f"\t            {text}\n" for text in snapshot_lines(self.snapshot))

    def _configs_line(self) -> str:
        if self.compose is None:
            return ""
        return (
            f"\tconfigs   : composed by each job as it starts, from the config dirs frozen in "
            f"{self.spool.configs}\n"
        )

    def _renamed_line(self) -> str:
        if self.default_taken is None:
            return ""
        return (
            f"\t            made unique: Hydra's default {self.default_taken.name} was taken "
            "by a launch in the same second\n"
        )

    def _reused_line(self, reused: list[Reused], count: int) -> str:
        if not self.options.reuse:
            return ""
        return f"\treused    : {reused_line(reused, count)}\n"

    def _report(self, sweep: Sweep, count: int, reused: list[Reused], batch: int) -> None:
        jobs = plural(count, "job")
        log.info(
            f"tsq: queued {jobs} of sweep {sweep.id} ({sweep.task_name}) in {self.backend.title}\n"
            f"{self._reused_line(reused, batch)}"
            f"\tsweep dir : {sweep.sweep_dir}\n"
            f"{self._renamed_line()}"
            f"\t{self.backend.describe()}\n"
            f"\tstore     : {self.store.display}\n"
            f"{self._code_line()}"
            f"{self._configs_line()}"
            f"\tfollow    : {self._command('status', sweep.id)}\n"
            f"\tresults   : {self._command('collect', sweep.id)}"
        )


def watch_list(store: Store, sweep: Sweep) -> dict[str, Any] | None:
    """What a barrier (`tsq.job.barrier`) must watch for `sweep`: its jobs that have not ended
    (None: none left).

    Called by the launcher, which refreshes the store first."""
    spool = sweep.spool
    active = [job for job in store.jobs([sweep.id]) if not job.state.terminal]
    if not active:
        return None
    return {
        "sweep": sweep.id,
        "backend": backend_for(sweep).recorded(),
        "jobs": [
            {
                "num": job.num,
                "attempt": job.attempt,
                "label": job.label,
                "queue_id": job.queue_id,
                "result": str(spool.result_json(job.num, job.attempt)),
            }
            for job in active
        ],
    }
