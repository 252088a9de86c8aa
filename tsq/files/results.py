"""The result files a job leaves behind, and the only code that reads them (and the store's
copies of their summaries).

Two files per job: `<num>.pkl`, the Hydra `JobReturn` for `tsq.collect()`, and `<num>.json`, a
summary that `status` and `collect --json` read without unpickling anything. The pickle is written
first and the JSON last, so a JSON file means the result is complete. When the refresh records
how a job ended, the store keeps a copy of its summary's text (`stored_copy`), read by the same
parser.

The summary holds the return value in JSON's types (see `summary_value`): numpy numbers become
plain ones, NaN and infinities stay floats (the summary is read by Python's `json`, which writes
and reads them as `NaN`/`Infinity`), records (dataclasses, NamedTuples, attrs classes, pydantic
models: `tsq.records`) become mappings of their fields, and only a part JSON cannot hold
becomes its repr. It keeps
at most `SUMMARY_LIMIT` bytes of a value; the pickle always has all of it.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsq.errors import SpecError
from tsq.files.records import record_fields
from tsq.files.safeio import read_private, write_atomic
from tsq.files.spool import SpoolDir
from tsq.states import JobState

if TYPE_CHECKING:  # the runner imports this module: Hydra only for annotations
    from hydra.core.utils import JobReturn

    from tsq.store import Attempt, Job

    Run = Job | Attempt

# A summary's `status`: the job's own words for how its task ended, those of `JobState`.
COMPLETED = JobState.COMPLETED.value
FAILED = JobState.FAILED.value
JOB_TRACEBACK = "Traceback of the job, as it ran:"
# Bytes of encoded JSON a summary keeps of one return value: `collect --json` prints every
# summary, and a task returning tens of MB (predictions, weights) must not make it print them.
SUMMARY_LIMIT = 64 * 1024
# Characters of a summary the store keeps a copy of (`stored_copy`): a few metrics and a
# traceback fit many times over, and a store of 10k-job sweeps stays small.
STORED_LIMIT = 16 * 1024


class RemoteError(Exception):
    """Stands in for a job's exception that cannot travel: it could not be pickled, or its
    pickle cannot be loaded again (an `__init__` with other arguments than its `args`, a class
    the reader cannot import). Keeps its type name and text, and the job's traceback as a note.
    """

    def __init__(self, message: str, remote_traceback: str) -> None:
        super().__init__(message)
        self.remote_traceback = remote_traceback
        if remote_traceback and hasattr(self, "add_note"):
            self.add_note(f"{JOB_TRACEBACK}\n{remote_traceback}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteError, (self.args[0], self.remote_traceback))


class UnpicklableResult(Exception):
    """The task returned a value that cannot be sent back to the collecting process."""


class ResultUnavailable(Exception):
    """A finished job whose result cannot be handed back (lost, cancelled, corrupt file...)."""


class ResultNotLoadable(SpecError):
    """A result file that was read but cannot be unpickled in this process: it refers to a
    module or class that cannot be imported here, or it was damaged after the job wrote it.
    Unlike an unreadable or unsafe file, the job's summary still says truthfully how it ended."""


@dataclass(frozen=True)
class ResultSummary:
    status: str  # COMPLETED or FAILED
    exit_code: int
    error: str | None  # one line, e.g. "ValueError: lr must be positive"
    traceback: str | None
    return_value: Any  # see `summary_value`
    started_at: float
    ended_at: float
    output_dir: str | None
    working_dir: str | None
    task_name: str | None
    # True when return_value lost parts to SUMMARY_LIMIT; a default, so older summaries load.
    return_value_truncated: bool = False

    @property
    def state(self) -> JobState:
        """The state the job ended in."""
        return JobState.COMPLETED if self.status == COMPLETED else JobState.FAILED


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def exit_status(exc: SystemExit) -> int:
    """The status `sys.exit(code)` asks for, as the interpreter would exit with it: 0 for None,
    the number (modulo 256) for an int, 1 for anything else (a message). An int that wraps to 0
    (256) stays a failure, 1: the task asked for one."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return 0 if exc.code == 0 else exc.code & 0xFF or 1
    return 1


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # a broken __repr__ must not cost the job its result
        return f"<{type(value).__qualname__} object>"


def _is_numpy(value: Any) -> bool:
    """numpy scalars and arrays, told by their type's module: numpy is not a dependency."""
    module = type(value).__module__
    return (module == "numpy" or module.startswith("numpy.")) and hasattr(value, "tolist")


def _plain(value: Any, open_containers: frozenset[int]) -> Any:
    if _is_numpy(value):
        value = value.tolist()  # Python numbers for scalars and 0-d arrays, lists for arrays
    if value is None or isinstance(value, str | int | float):
        return value  # subclasses (IntEnum, numpy.float64) too: JSON writes them as their base
    if id(value) in open_containers:
        return _repr(value)  # what breaks a reference cycle
    inside = open_containers | {id(value)}
    fields = record_fields(value)  # a dataclass, NamedTuple, attrs class or pydantic model
    if fields is not None:
        items = list(fields.items())
    elif not isinstance(value, Mapping | list | tuple):
        return _repr(value)
    elif not isinstance(value, Mapping):
        return [_plain(item, inside) for item in value]
    else:
        try:
            items = list(value.items())
        except Exception:  # a mapping that cannot be read whole (an OmegaConf node with ???)
            return _repr(value)
    names = key_names([key for key, _ in items])
    return {name: _plain(item, inside) for name, (_, item) in zip(names, items, strict=True)}


def key_names(keys: Sequence[Any]) -> list[str]:
    """A mapping's keys as JSON object keys (strings), one distinct name each, in order.

    A str key is itself; any other key is its repr (a numpy number's as the plain number's, so
    `np.int64(3)` gives "3"), followed by its type while that name is another key's: `{1: a,
    "1": b}` gives "1 (int)" and "1", so no value overwrites another's."""
    taken = {key for key in keys if isinstance(key, str)}
    names: list[str] = []
    for key in keys:
        if isinstance(key, str):
            names.append(key)
            continue
        plain = key.tolist() if _is_numpy(key) else key
        name = _repr(plain)
        while name in taken:
            name = f"{name} ({type(plain).__name__})"
        taken.add(name)
        names.append(name)
    return names


def _cut(size: int) -> str:
    return f"<truncated: {size} bytes of JSON; tsq.collect() has the whole value>"


def summary_value(value: Any) -> tuple[Any, bool]:
    """What the summary keeps of a return value, and whether SUMMARY_LIMIT cut parts of it.

    The value in JSON's types, part by part: numpy scalars and arrays become Python numbers
    and lists; NaN and infinities stay floats; a record (a dataclass, NamedTuple, attrs class
    or pydantic model instance) becomes the mapping of its fields, at any depth, so metrics
    returned as one keep their columns too; a part JSON cannot hold (an object, a set)
    becomes its repr at that place only, so a mapping stays a mapping and `collect` keeps its
    `return.<key>` columns. A value over the limit loses its largest top-level keys, each
    replaced by a `<truncated: ...>` marker, until it fits; a value that is not a mapping is
    replaced whole.
    """
    plain = _plain(value, frozenset())
    size = len(json.dumps(plain))
    if size <= SUMMARY_LIMIT:
        return plain, False
    if not isinstance(plain, dict):
        return _cut(size), True
    sizes = {key: len(json.dumps(item)) for key, item in plain.items()}
    for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
        if size <= SUMMARY_LIMIT:
            break
        plain[key] = _cut(sizes[key])
        size -= sizes[key] - len(json.dumps(plain[key]))
    return plain, True


def _format_tb(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _travels(exc: BaseException) -> bool:
    """Whether `exc` survives pickling *and* unpickling: an exception whose `__init__` wants
    other arguments than its `args` pickles fine and only fails when it is loaded."""
    import cloudpickle

    try:
        cloudpickle.loads(cloudpickle.dumps(exc))
    except Exception:
        return False
    return True


def _pickle_job_return(job_return: JobReturn, tb: str | None) -> bytes:
    """Pickle the JobReturn, replacing what cannot travel by a stand-in that can.

    An exception that cannot be pickled or loaded again, or that is not an `Exception`, becomes
    a RemoteError with the same text and the job's traceback `tb`; an unpicklable return value
    fails the job: `collect()` could not hand it back, and saying so at once beats a silent None.
    """
    import cloudpickle
    from hydra.core.utils import JobStatus

    value = job_return._return_value
    if job_return.status != JobStatus.COMPLETED:
        # Not an Exception (SystemExit, KeyboardInterrupt): raised by `return_value` in the
        # reader, it would end the reader's own process.
        if not isinstance(value, Exception) or not _travels(value):
            job_return._return_value = RemoteError(one_line(value), tb or "")
        return cloudpickle.dumps(job_return)
    try:
        return cloudpickle.dumps(job_return)
    except Exception as e:
        job_return.status = JobStatus.FAILED
        job_return._return_value = UnpicklableResult(
            f"the task returned a value that cannot be pickled "
            f"({type(value).__name__}: {one_line(e)}); return something picklable"
        )
        return cloudpickle.dumps(job_return)


def write_result(
    pickle_path: Path,
    json_path: Path,
    job_return: JobReturn,
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
        raw.add_note(f"{JOB_TRACEBACK}\n{tb}")
    payload = _pickle_job_return(job_return, tb)
    value = job_return._return_value
    completed = job_return.status == JobStatus.COMPLETED
    kept, truncated = summary_value(value) if completed else (None, False)
    summary = ResultSummary(
        status=COMPLETED if completed else FAILED,
        exit_code=0 if completed else failed_exit,
        error=None
        if completed
        else (str(value) if isinstance(value, RemoteError) else one_line(value)),
        traceback=tb,
        return_value=kept,
        started_at=started_at,
        ended_at=ended_at,
        output_dir=output_dir,
        working_dir=job_return.working_dir,
        task_name=job_return.task_name,
        return_value_truncated=truncated,
    )
    write_atomic(pickle_path, payload)
    write_summary(json_path, summary)
    return summary


def write_summary(json_path: Path, summary: ResultSummary) -> None:
    write_atomic(json_path, summary_text(summary).encode())


def summary_text(summary: ResultSummary) -> str:
    """The summary as its file holds it, and as the store keeps a copy of it (`stored_copy`)."""
    return json.dumps(asdict(summary))


def stored_copy(summary: ResultSummary) -> str | None:
    """What the store keeps of a summary when the refresh records how its job ended: its text,
    so that the page and `collect` read a sweep's results in one query instead of a file per
    job; None for a summary over STORED_LIMIT (a large return value or traceback), which
    stays in its file only and is read from there."""
    text = summary_text(summary)
    return text if len(text) <= STORED_LIMIT else None


def parse_summary(data: str | bytes, where: str) -> ResultSummary:
    """A summary's text, from its file or the store's copy; SpecError, naming `where`, when it
    is corrupt."""
    try:
        fields = json.loads(data)
        summary = ResultSummary(**fields)
    except (ValueError, TypeError) as e:
        raise SpecError(f"{where} is corrupt ({one_line(e)})") from e
    if summary.status not in (COMPLETED, FAILED):
        raise SpecError(f"{where} is corrupt (status {summary.status!r})")
    return summary


def read_summary(path: Path | str) -> ResultSummary | None:
    """None when the job has not written its result yet; SpecError when the file is unusable."""
    try:
        data = read_private(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SpecError(f"result file {path} cannot be read: {e.strerror}") from e
    return parse_summary(data, f"result file {path}")


def ended_summary(jobs_dir: str, job: Run) -> tuple[ResultSummary | None, str | None]:
    """A terminal job's summary, or why it has none: the store's copy when it has one, else
    its result file in `jobs_dir` (`str(spool.jobs)`). (None, None) for a job that ended
    without running to a result (lost, cancelled): it has none to read."""
    if job.state not in (JobState.COMPLETED, JobState.FAILED):
        return None, None
    path = SpoolDir.result_json_in(jobs_dir, job.num, job.attempt)
    try:
        if job.result_summary is not None:
            return parse_summary(
                job.result_summary, f"the store's copy of result file {path}"
            ), None
        summary = read_summary(path)
    except SpecError as e:
        return None, str(e)
    if summary is None:
        return None, f"its result file {path} is missing"
    return summary, None


def load_job_return(path: Path) -> JobReturn:
    """The pickled JobReturn: SpecError when the file is missing, unreadable or unsafe, its
    subclass ResultNotLoadable when unpickling it fails (a module it needs, named in the
    message, cannot be imported here; or the file is damaged) or it holds something else."""
    import cloudpickle

    try:
        data = read_private(path)
    except OSError as e:
        raise SpecError(f"result file {path} cannot be read: {e.strerror}") from e
    try:
        loaded = cloudpickle.loads(data)
    except Exception as e:
        raise ResultNotLoadable(f"result file {path} cannot be loaded here: {one_line(e)}") from e
    from hydra.core.utils import JobReturn

    if not isinstance(loaded, JobReturn):  # the runner writes nothing else: a file replaced
        kind = type(loaded)
        raise ResultNotLoadable(
            f"result file {path} holds a {kind.__module__}.{kind.__qualname__}, not a Hydra "
            "JobReturn (was it replaced?)"
        )
    return loaded
