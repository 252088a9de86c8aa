"""The app's `__main__` in the job: the launched script, run once before its task.

Hydra's basic launcher runs the task in the launching process, where the script is `__main__`:
its module-level statements (`np.seterr(...)`, `torch.backends.cudnn.benchmark = True`,
`sys.setrecursionlimit`, logging set-up, resolvers, ConfigStore entries) have run, and its
functions and classes are `__main__.<name>`, which is what `pickle`, `multiprocessing.Pool`,
PyTorch's DataLoader workers and `torch.save` rely on. A job in another interpreter would have
`tsq.job.runner` as `__main__`. So the job does what Python's multiprocessing `spawn` does: it runs
the script under the name `__mp_main__` (its `if __name__ == "__main__":` block does not run)
and makes that module `sys.modules["__main__"]`, *before* the spec is unpickled, so whatever the
launch pickled by name from `__main__` (the task, structured configs, dataclasses) is the
script's own object again. A script launched as `python -m pkg.app` runs as that module, with
its package, so its relative imports work.

Once it has run, the module is renamed `__main__`, with the functions and classes it defined:
what the task pickles then names `__main__.<name>`, as under the basic launcher, and loads in a
later `python app.py` (not only in this job, as `__mp_main__.<name>` would).

A script that calls the Hydra app at module level without that guard would launch the sweep
again from inside every job: the call is stopped where it starts (Hydra's `_run_hydra`), so the
statements before it have run and those after it do not, and the job says so on stderr.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RUN_NAME = "__mp_main__"
MAIN = "__main__"


class _AppCalled(Exception):
    """The script's top level called the Hydra app: stopped before it parses any argument."""


def install_main(script: str, module: str | None) -> None:
    """Run `script` (or, for `python -m`, `module`, found on `sys.path`) as the job's
    `__main__`, with `sys.argv` as if it ran bare (a module-level argument parser sees no
    runner arguments)."""
    main = types.ModuleType(RUN_NAME)
    if module:
        spec = importlib.util.find_spec(module)  # imports its parent package, as `-m` does
        if spec is None or spec.loader is None or not hasattr(spec.loader, "get_code"):
            raise ImportError(f"the app's module {module} is not importable in the job")
        code = spec.loader.get_code(module)
        main.__spec__ = spec
        main.__file__ = spec.origin
        main.__package__ = spec.parent
        main.__loader__ = spec.loader
        main.__cached__ = spec.cached  # type: ignore[attr-defined]
    else:
        code = compile(Path(script).read_bytes(), script, "exec")
        main.__file__ = script
    sys.modules[MAIN] = sys.modules[RUN_NAME] = main
    argv = sys.argv
    sys.argv = [script]
    try:
        with _app_stopped():
            exec(code, main.__dict__)
    except _AppCalled:
        line = _calling_line(sys.exc_info()[2], script)
        print(
            f"tsq: {script}{line} calls the Hydra app at module level, outside "
            '`if __name__ == "__main__":`; in the job that call and what follows it are '
            "skipped",
            file=sys.stderr,
        )
    finally:
        sys.argv = argv
    main.__name__ = MAIN
    _adopt(main.__dict__.values())


@contextmanager
def _app_stopped() -> Iterator[None]:
    """Hydra's `@hydra.main` wrapper refuses to run while the top level runs."""
    module = importlib.import_module("hydra.main")  # `hydra.main` the attribute is a function

    def refuse(**kwargs: Any) -> None:
        raise _AppCalled

    run_hydra = module._run_hydra
    module._run_hydra = refuse
    try:
        yield
    finally:
        module._run_hydra = run_hydra


def _calling_line(tb: types.TracebackType | None, script: str) -> str:
    """`:N`, the script's line that called the app, when the traceback shows it."""
    found = ""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == script:
            found = f":{tb.tb_lineno}"
        tb = tb.tb_next
    return found


def _adopt(values: Any) -> None:
    """Functions and classes defined by the script (nested classes and their methods too)
    become `__main__`'s, as they would be in the launching process."""
    for value in list(values):
        if isinstance(value, types.FunctionType | type) and value.__module__ == RUN_NAME:
            value.__module__ = MAIN
            if isinstance(value, type):
                _adopt(vars(value).values())
