"""The batch spec: everything a job's interpreter needs to run one Hydra job, written once per
`launch()` call.

Format: one JSON header line (the parent's `sys.path`, so the job can import what the task's
pickle refers to *before* unpickling it), then a cloudpickle payload. cloudpickle, not pickle:
Hydra's singleton state carries resolver closures and `@hydra.main` functions often live in
`__main__`.
"""

from __future__ import annotations

import gc
import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsq.errors import SpecError
from tsq.safeio import read_private, write_atomic

FORMAT = 1
DYNAMIC_CODE = "<dynamic-code>"


@dataclass
class BatchSpec:
    sweep_id: str
    config: Any  # the master DictConfig
    hydra_context: Any  # hydra.types.HydraContext
    task_function: Any
    singleton_state: Any  # hydra.core.singleton.Singleton.get_state()
    frozen_sources: dict[str, str]  # original file config dir -> its snapshot
    overrides: dict[int, list[str]]  # job num -> overrides


def dump_spec(ts_options: dict[str, Any], spec: BatchSpec) -> bytes:
    """Serialise, or say in one line what in the app cannot be sent to another interpreter.

    `ts_options` (how the jobs were queued) go in the header, readable without unpickling:
    `tsq retry` queues a job again the same way.
    """
    import cloudpickle

    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    header = json.dumps(
        {"format": FORMAT, "sys_path": sys.path, "main_file": main_file, "ts": ts_options}
    ).encode()
    try:
        payload = cloudpickle.dumps(spec)
    except Exception as e:
        raise SpecError(
            f"cannot queue the sweep: the task function, its config or a registered resolver "
            f"cannot be pickled ({type(e).__name__}: {e})"
        ) from e
    return header + b"\n" + payload


def write_spec(path: Path, data: bytes) -> None:
    write_atomic(path, data)


def _split(path: Path) -> tuple[dict[str, Any], bytes]:
    try:
        data = read_private(path)
    except OSError as e:
        raise SpecError(f"cannot read job spec {path}: {e.strerror}") from e
    head, sep, payload = data.partition(b"\n")
    try:
        header = json.loads(head)
    except ValueError:
        header = None
    if not sep or not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SpecError(f"{path} is not a tsq job spec (format {FORMAT})")
    return header, payload


def read_header(path: Path) -> dict[str, Any]:
    """The spec's JSON header alone: nothing is unpickled."""
    return _split(path)[0]


def read_spec(path: Path) -> BatchSpec:
    import cloudpickle

    header, payload = _split(path)
    for entry in reversed(header["sys_path"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    spec = cloudpickle.loads(payload)
    if not isinstance(spec, BatchSpec):
        raise SpecError(f"{path} is not a tsq job spec")
    name_dynamic_code(header.get("main_file"))
    return spec


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
