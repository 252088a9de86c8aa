"""The store's tables as Python classes: sweeps, their jobs, and the jobs' earlier attempts.

The schema's history is in `migrations/`; a test checks that these models and the migrated schema
agree. Job states are `JobState` in Python and their lowercase names in the database (a type
decorator over the string column, so no migration and the JSON contract are unchanged).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Dialect,
    Float,
    ForeignKey,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from tsq.files.spool import SpoolDir
from tsq.states import JobState


def now() -> float:
    return time.time()


class JobStateType(TypeDecorator[JobState]):
    """A `JobState` stored as its value; a value this tsq does not know is an error, not a
    guess (a newer tsq refuses older ones at the schema revision first)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: JobState | str | None, dialect: Dialect) -> str | None:
        return None if value is None else JobState(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> JobState | None:
        return None if value is None else JobState(value)


class Base(DeclarativeBase):
    # SQLAlchemy 2.1 maps `float` to Double where 2.0 used Float; pinning it keeps the models
    # equal to the migrations whichever version is installed.
    type_annotation_map: ClassVar[dict[Any, Any]] = {float: Float, JobState: JobStateType}
    # Named constraints let SQLite batch migrations drop or alter them later.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Sweep(Base):
    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[float]
    task_name: Mapped[str]
    app: Mapped[str]
    cwd: Mapped[str]
    sweep_dir: Mapped[str]
    spool_dir: Mapped[str]
    # The queue the jobs went to (`tsq.backends.backend_for`): its name, variant (for ts:
    # "task-spooler" or "gpu-task-spooler"; for Slurm the cluster's name; None when not
    # recorded), and where it is, in the backend's own terms (ts: {"binary", "socket"};
    # Slurm: {"conf"}, the SLURM_CONF its clients used).
    backend: Mapped[str] = mapped_column(default="ts", server_default="ts")
    backend_variant: Mapped[str | None]
    backend_record: Mapped[dict[str, Any]] = mapped_column(JSON)
    launcher_pid: Mapped[int]
    hostname: Mapped[str]  # the launch's host (`tsq.hosts.this_host`): its queue is there
    njobs: Mapped[int]
    # The code the jobs run (`tsq.launch.snapshot`): the project dir, its snapshot's copy (None when
    # snapshots are off), and the git state it was taken of (None outside git).
    project: Mapped[str | None]
    snapshot: Mapped[str | None]
    git_commit: Mapped[str | None]
    git_branch: Mapped[str | None]
    git_dirty: Mapped[bool | None]

    jobs: Mapped[list[Job]] = relationship(
        back_populates="sweep",
        order_by="Job.num",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def spool(self) -> SpoolDir:
        """Where the sweep's specs, leases and its jobs' files are (`tsq.files.spool`)."""
        return SpoolDir.at(self.spool_dir)

    def __repr__(self) -> str:
        return f"Sweep(id={self.id!r}, task_name={self.task_name!r}, njobs={self.njobs})"


class AttemptColumns:
    """What one attempt of a job was: the job's row holds its latest, `attempts` the others."""

    label: Mapped[str]
    queue_id: Mapped[int | None]
    reason: Mapped[str | None]
    exit_code: Mapped[int | None]
    signal: Mapped[int | None]
    submitted_at: Mapped[float | None]
    started_at: Mapped[float | None]
    ended_at: Mapped[float | None]
    output_dir: Mapped[str | None]
    # The ts server instance the attempt was queued in (`Backend.server_id`); for Slurm, its
    # array task id (`tsq.backends.Queued.place`).
    server_id: Mapped[str | None]
    # The host it was queued on (`tsq.hosts.this_host`): only that host can ask its queue.
    host: Mapped[str | None]
    # How many runs of the same submission came before this attempt: a queue that runs a job
    # again (Slurm's requeue, preemption) makes each run an attempt of its own, so the attempt
    # it queued is `attempt - restarts` (`tsq.backends.RunnerArgs`).
    restarts: Mapped[int] = mapped_column(default=0, server_default="0")
    # A copy of the attempt's result summary (`tsq.files.results.stored_copy`), kept by the refresh
    # that read it when the attempt ended; None before, for one over the size kept, and for
    # attempts that ended before tsq kept copies (their files are read instead). Text, not
    # JSON: a summary may hold NaN, which PostgreSQL's JSON types refuse.
    result_summary: Mapped[str | None] = mapped_column(Text)


class Job(AttemptColumns, Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("sweep_id", "num"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sweep_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("sweeps.id", ondelete="CASCADE"), index=True
    )
    num: Mapped[int]
    overrides: Mapped[list[str]] = mapped_column(JSON)
    # Indexed because every status refresh selects the queued and running jobs.
    state: Mapped[JobState] = mapped_column(index=True, default=JobState.QUEUED)
    updated_at: Mapped[float] = mapped_column(default=now)
    # The row is the job's latest attempt; earlier ones are archived in `attempts`.
    attempt: Mapped[int] = mapped_column(default=1, server_default="1")
    # Counts the writes to the row: every decided write is conditional on the version it was
    # decided from, so a stale or concurrent writer changes nothing (see `Store.apply`).
    version: Mapped[int] = mapped_column(default=0, server_default="0")
    # A live command working on the job (INTENT_SUBMIT, INTENT_CANCEL) and its lease
    # (`tsq.files.lease`): while the lease is held, nobody judges the job from the queue's silence.
    intent: Mapped[str | None]
    lease: Mapped[str | None]

    sweep: Mapped[Sweep] = relationship(back_populates="jobs")
    history: Mapped[list[Attempt]] = relationship(
        order_by="Attempt.number", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def queued_on(self) -> str:
        """The host whose queue holds this attempt: the only one that can ask it about it."""
        return self.host or self.sweep.hostname

    def __repr__(self) -> str:
        return f"Job(sweep_id={self.sweep_id!r}, num={self.num}, state={self.state!r})"


ATTEMPT_FIELDS = (*AttemptColumns.__annotations__, "state")


class Attempt(AttemptColumns, Base):
    """An earlier attempt of a job, as it ended (`tsq retry` queued the job again)."""

    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("job_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    state: Mapped[JobState]
