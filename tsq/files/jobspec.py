"""The batch spec: everything a job's interpreter needs to run one Hydra job, written once per
`launch()` call.

Layout: one JSON header line, then the batch's pickled payload, then one pickled config per
job. The header holds the parent's `sys.path` (so the job can import what the pickles refer to
*before* unpickling them), how the jobs were queued (read by `tsq retry` without unpickling),
and where each job's config lies, so a job reads and unpickles its own config and no other.
cloudpickle where pickle cannot: Hydra's singleton state carries resolver closures (see
`pickled`). What the app's script defines (`@hydra.main` functions, structured configs) travels
by name when the job runs that script as its `__main__` before it unpickles (`tsq.job.toplevel`),
by value otherwise.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import io
import json
import os
import pickle
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # the runner imports this module: Hydra only for annotations
    from hydra.core.callbacks import Callbacks
    from hydra.types import TaskFunction
    from omegaconf import DictConfig

from tsq.errors import SpecError
from tsq.files.safeio import open_private, write_atomic

FORMAT = 2
PROTOCOL = 5  # pickle's newest: what cloudpickle writes too, read by every Python tsq runs on
DYNAMIC_CODE = "<dynamic-code>"


@dataclass(frozen=True)
class ComposeSpec:
    """What a job of a `hydra/sweeper=tsq` sweep composes its own config from
    (`tsq.job.compose`): the launch's master config (its `hydra.overrides.hydra`, its config
    name and the cache of what it resolved, `${now:}` among them), the launch's config search
    path, and the frozen copy of each config dir on it (`tsq.launch.configdirs`)."""

    master: DictConfig
    search_path: list[tuple[str, str]]  # (provider, path): Hydra's ConfigSearchPath entries
    frozen: dict[str, str]  # a config dir (its real path at launch) -> its frozen copy


@dataclass
class BatchSpec:
    sweep_id: str
    task_function: TaskFunction
    callbacks: Callbacks
    singleton_state: dict[Any, Any]  # hydra.core.singleton.Singleton.get_state()
    overrides: dict[int, list[str]]  # job num -> overrides
    # Set when each job composes its own config (no config per job in the spec).
    compose: ComposeSpec | None = None


@dataclass(frozen=True)
class CodeSpec:
    """Where a job imports the app from: the launch's `sys.path` and main file, remapped into
    the code snapshot when there is one (`tsq.launch.snapshot`), and whether the job runs the main
    file as its `__main__` before it unpickles anything (`tsq.job.toplevel`): then what the launch
    pickled from `__main__` went by name. `main_module` is the module `python -m` ran, so the
    job runs it with its package."""

    sys_path: list[str]
    main_file: str | None
    top_level: bool = False
    snapshot: str | None = None
    main_module: str | None = None

    @classmethod
    def of_header(cls, header: dict[str, Any]) -> CodeSpec:
        """The code part of a spec's header (`write_spec`)."""
        return cls(
            sys_path=header["sys_path"],
            main_file=header.get("main_file"),
            top_level=bool(header.get("top_level")),
            snapshot=header.get("snapshot"),
            main_module=header.get("main_module"),
        )

    @classmethod
    def as_launched(cls) -> CodeSpec:
        """The launching process's own paths, as they are (no snapshot)."""
        main = getattr(sys.modules.get("__main__"), "__file__", None)
        return cls(sys_path=list(sys.path), main_file=main)


@dataclass(frozen=True)
class OutputDir:
    """Where a job's earlier attempt ran: Hydra's `hydra.sweep.dir` and the job's subdir
    (`tsq retry` holds a job to it: `tsq.files.retryspec`)."""

    sweep_dir: str
    subdir: str

    @classmethod
    def of(cls, sweep_dir: str, output_dir: str) -> OutputDir:
        """`output_dir` (absolute, as the runner recorded it) under the sweep's dir."""
        return cls(sweep_dir, os.path.relpath(output_dir, sweep_dir))

    def hold(self, config: DictConfig) -> DictConfig:
        """`config`, made to run in this dir."""
        from omegaconf import open_dict, read_write

        with read_write(config), open_dict(config):
            config.hydra.sweep.dir = self.sweep_dir
            config.hydra.sweep.subdir = self.subdir
        return config


@dataclass(frozen=True)
class ToCompose:
    """In place of a job's config: the job composes it (`BatchSpec.compose`), then runs in
    `at` when that is set."""

    at: OutputDir | None = None


@dataclass
class JobSpec:
    """One job's share of a batch spec."""

    batch: BatchSpec
    config: DictConfig | ToCompose  # composed at submit time, or by the job
    code: CodeSpec


def pickled(obj: Any, what: str, main_by_name: bool = False) -> bytes:
    """Pickle `obj` for another interpreter, or say in one line what in the app cannot go there.

    The standard pickler first: it pickles a composed config in half cloudpickle's time (4 vs
    8 ms, a tenth of a launch's own work on 100 jobs), and both refer to what can be imported
    by name in the same way. `main_by_name`: the job runs the app's script as its `__main__`
    before it unpickles, so `__main__.<name>` is found there as here. Otherwise a payload that
    names `__main__` anywhere (even in a string) takes cloudpickle's way, which carries what
    `__main__` defines by value: slower, never wrong. cloudpickle also carries what cannot be
    found by name (a closure, a class made in a function), where the standard pickler fails.
    """
    try:
        data = pickle.dumps(obj, protocol=PROTOCOL)
    except Exception:
        data = None
    if data is not None and (main_by_name or b"__main__" not in data):
        return data
    buffer = io.BytesIO()
    try:
        _app_pickler()(buffer, main_by_name).dump(obj)
    except Exception as e:
        raise SpecError(
            f"cannot queue the sweep: {what} cannot be pickled ({type(e).__name__}: {e})"
        ) from e
    return buffer.getvalue()


@cache
def _app_pickler() -> type:
    """cloudpickle's pickler, which also sends by name what the job finds by name: with
    `main_by_name`, `__main__`'s own functions and classes; and a function its module holds
    only wrapped (`@hydra.main` keeps the task as `__wrapped__` of the module's `main`), which
    the standard pickler refuses as "not the same object" and cloudpickle would copy, so that
    the job's task would not be the module's (nor its globals the module's)."""
    import cloudpickle

    class AppPickler(cloudpickle.Pickler):  # type: ignore[misc,name-defined]
        def __init__(self, file: IO[bytes], main_by_name: bool) -> None:
            super().__init__(file, protocol=PROTOCOL)
            self.main_by_name = main_by_name

        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, types.FunctionType | type):
                module = getattr(obj, "__module__", None)
                if isinstance(module, str) and (module != "__main__" or self.main_by_name):
                    found = _attribute(module, obj.__qualname__)
                    if found is obj and module == "__main__":
                        return NotImplemented  # the standard way: by name
                    if found is not obj and found is not None and inspect.unwrap(found) is obj:
                        return unwrapped_attribute, (module, obj.__qualname__)
            return super().reducer_override(obj)

    return AppPickler


def _attribute(module: str, qualname: str) -> Any:
    """`module.qualname` if the module is loaded and has it, else None."""
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found


def unwrapped_attribute(module: str, qualname: str) -> Any:
    """In the job: the function that `module.qualname` wraps (see `_app_pickler`)."""
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return inspect.unwrap(found)


def write_spec(
    path: Path,
    queue_options: dict[str, Any],
    batch: BatchSpec,
    configs: Mapping[int, bytes],
    code: CodeSpec,
) -> None:
    """Write the spec file; `queue_options` say how its jobs are queued
    (`tsq.backends.queueing.QueueOptions`), `configs` are the jobs' pickled configs, by job num
    (none when the jobs compose their own: `batch.compose`)."""
    payload = pickled(batch, "the task function or a registered resolver", code.top_level)
    offsets: dict[str, list[int]] = {}
    position = len(payload)
    for num, blob in configs.items():
        offsets[str(num)] = [position, len(blob)]
        position += len(blob)
    header = {
        "format": FORMAT,
        "sys_path": code.sys_path,
        "main_file": code.main_file,
        "top_level": code.top_level,
        "snapshot": code.snapshot,
        "main_module": code.main_module,
        "queue": queue_options,
        "payload": len(payload),
        "configs": offsets,
        "compose": isinstance(batch, BatchSpec) and batch.compose is not None,
    }
    try:
        write_atomic(path, json.dumps(header).encode() + b"\n", payload, *configs.values())
    except OSError as e:
        raise SpecError(
            f"cannot write the job spec {path}: {e.strerror or e}; the batch was not queued"
        ) from None


def _header(path: Path, f: IO[bytes]) -> dict[str, Any]:
    line = f.readline()
    try:
        header = json.loads(line)
    except ValueError:
        header = None
    if not line.endswith(b"\n") or not isinstance(header, dict):
        raise SpecError(f"{path} is not a tsq job spec")
    if header.get("format") != FORMAT:
        raise SpecError(
            f"{path} was written by another version of tsq (spec format {header.get('format')}, "
            f"this one reads {FORMAT}); launch the sweep again"
        )
    return header


def _read(path: Path, f: IO[bytes], size: int) -> bytes:
    data = f.read(size)
    if len(data) != size:
        raise SpecError(f"{path} is truncated")
    return data


def read_header(path: Path) -> dict[str, Any]:
    """The spec's JSON header alone: nothing is unpickled."""
    try:
        with os.fdopen(open_private(path), "rb") as f:
            return _header(path, f)
    except OSError as e:
        raise SpecError(f"cannot read job spec {path}: {e.strerror}") from e


def queue_options(header: dict[str, Any]) -> dict[str, Any]:
    """How the spec's jobs are queued (`QueueOptions`' fields), from its header: under "queue",
    or "ts" in specs written before tsq 0009's rename (jobs queued by an older tsq are still
    retried and fed alike)."""
    options: dict[str, Any] = header.get("queue", header.get("ts", {}))
    return options


def read_job(path: Path, num: int, prepare: Callable[[CodeSpec], None] | None = None) -> JobSpec:
    """Job `num`'s spec: the batch payload and its own config, and nothing else, unpickled.
    `prepare` runs once the launch's `sys.path` is in place and before anything is unpickled
    (the runner installs the app's `__main__` there)."""
    import cloudpickle

    try:
        with os.fdopen(open_private(path), "rb") as f:
            header = _header(path, f)
            place = header["configs"].get(str(num))
            if place is None and not header.get("compose"):
                raise SpecError(f"{path} holds no job {num}")
            body = f.tell()
            payload = _read(path, f, header["payload"])
            config = None
            if place is not None:
                f.seek(body + place[0])
                config = _read(path, f, place[1])
    except OSError as e:
        raise SpecError(f"cannot read job spec {path}: {e.strerror}") from e
    for entry in reversed(header["sys_path"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    code = CodeSpec.of_header(header)
    if prepare is not None:
        prepare(code)
    batch = cloudpickle.loads(payload)
    if not isinstance(batch, BatchSpec):
        raise SpecError(f"{path} is not a tsq job spec")
    if config is None and num not in batch.overrides:  # a spec whose jobs compose their own
        raise SpecError(f"{path} holds no job {num}")
    job = JobSpec(batch, ToCompose() if config is None else cloudpickle.loads(config), code)
    name_dynamic_code(code.main_file)
    return job


def _renamed(code: types.CodeType, filename: str) -> types.CodeType:
    consts = tuple(
        _renamed(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)


def name_dynamic_code(main_file: str | None) -> None:
    """Give the functions cloudpickle carried by value their source file back.

    cloudpickle (3.1+) writes "<dynamic-code>" as the file name of every function it pickles
    by value, which is what it does with the task function and anything else defined in
    `__main__`: the job's tracebacks would name no file and show no source line.
    """
    for obj in gc.get_objects():
        if not isinstance(obj, types.FunctionType):
            continue
        code = obj.__code__
        if code.co_filename != DYNAMIC_CODE:
            continue
        module = sys.modules.get(obj.__module__) if obj.__module__ != "__main__" else None
        filename = getattr(module, "__file__", None) if module is not None else main_file
        if filename:
            obj.__code__ = _renamed(code, filename)
