"""The result files a job leaves behind, and the only code that reads them.

Two files per job: `<num>.pkl`, the Hydra `JobReturn` for `tsq.collect()`, and `<num>.json`, a
summary that `status` and `collect --json` read without unpickling anything. The pickle is written
first and the JSON last, so a JSON file means the result is complete.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tsq.errors import SpecError
from tsq.safeio import read_private, write_atomic

COMPLETED = "completed"
FAILED = "failed"


class RemoteError(Exception):
    """Stands in for a job's exception that could not be pickled; keeps its type and text."""

    def __init__(self, message: str, remote_traceback: str) -> None:
        super().__init__(message)
        self.remote_traceback = remote_traceback

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteError, (self.args[0], self.remote_traceback))


class UnpicklableResult(Exception):
    """The task returned a value that cannot be sent back to the collecting process."""


class ResultUnavailable(Exception):
    """A finished job whose result cannot be handed back (lost, cancelled, corrupt file...)."""


@dataclass(frozen=True)
class ResultSummary:
    status: str  # COMPLETED or FAILED
    exit_code: int
    error: str | None  # one line, e.g. "ValueError: lr must be positive"
    traceback: str | None
    return_value: Any  # the value if JSON can hold it, else its repr
    started_at: float
    ended_at: float
    output_dir: str | None
    working_dir: str | None
    task_name: str | None


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def json_value(value: Any) -> Any:
    """The value itself when JSON can carry it unchanged, else its repr."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _format_tb(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _pickle_job_return(job_return: Any) -> bytes:
    """Pickle the JobReturn, replacing what cannot be pickled by a picklable stand-in.

    An unpicklable exception becomes a RemoteError with the same text; an unpicklable return value
    fails the job: `collect()` could not hand it back, and saying so at once beats a silent None.
    """
    import cloudpickle
    from hydra.core.utils import JobStatus

    try:
        return cloudpickle.dumps(job_return)
    except Exception as e:
        value = job_return._return_value
        if job_return.status == JobStatus.COMPLETED:
            job_return.status = JobStatus.FAILED
            job_return._return_value = UnpicklableResult(
                f"the task returned a value that cannot be pickled "
                f"({type(value).__name__}: {one_line(e)}); return something picklable"
            )
        else:
            job_return._return_value = RemoteError(one_line(value), _format_tb(value))
        return cloudpickle.dumps(job_return)


def write_result(
    pickle_path: Path,
    json_path: Path,
    job_return: Any,
    *,
    started_at: float,
    ended_at: float,
    output_dir: str | None,
    failed_exit: int = 1,
) -> ResultSummary:
    """Write both files for a finished `run_job` JobReturn; returns the summary written.

    `failed_exit` is the exit status the job process will end with if the job failed, so the
    summary and ts's own exit level agree.
    """
    from hydra.core.utils import JobStatus

    raw = job_return._return_value
    tb = _format_tb(raw) if isinstance(raw, BaseException) else None
    if tb and hasattr(raw, "add_note"):
        raw.add_note(f"Traceback of the job, as it ran:\n{tb}")
    payload = _pickle_job_return(job_return)
    value = job_return._return_value
    completed = job_return.status == JobStatus.COMPLETED
    summary = ResultSummary(
        status=COMPLETED if completed else FAILED,
        exit_code=0 if completed else failed_exit,
        error=None
        if completed
        else (str(value) if isinstance(value, RemoteError) else one_line(value)),
        traceback=tb,
        return_value=json_value(value) if completed else None,
        started_at=started_at,
        ended_at=ended_at,
        output_dir=output_dir,
        working_dir=job_return.working_dir,
        task_name=job_return.task_name,
    )
    write_atomic(pickle_path, payload)
    write_summary(json_path, summary)
    return summary


def write_summary(json_path: Path, summary: ResultSummary) -> None:
    write_atomic(json_path, json.dumps(asdict(summary)).encode())


def read_summary(path: Path) -> ResultSummary | None:
    """None when the job has not written its result yet; SpecError when the file is unusable."""
    try:
        data = read_private(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SpecError(f"result file {path} cannot be read: {e.strerror}") from e
    try:
        fields = json.loads(data)
        summary = ResultSummary(**fields)
    except (ValueError, TypeError) as e:
        raise SpecError(f"result file {path} is corrupt ({one_line(e)})") from e
    if summary.status not in (COMPLETED, FAILED):
        raise SpecError(f"result file {path} is corrupt (status {summary.status!r})")
    return summary


def load_job_return(path: Path) -> Any:
    """The pickled JobReturn; SpecError with the reason when it is missing, unsafe or corrupt."""
    import cloudpickle

    try:
        data = read_private(path)
    except OSError as e:
        raise SpecError(f"result file {path} cannot be read: {e.strerror}") from e
    try:
        return cloudpickle.loads(data)
    except Exception as e:
        raise SpecError(f"result file {path} is corrupt ({one_line(e)})") from e
