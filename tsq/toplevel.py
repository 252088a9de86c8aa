"""The launched script's top level, run once in each job before its task.

Hydra's basic launcher runs the task in the launching process, where the script's module-level
statements (`np.seterr(...)`, `torch.backends.cudnn.benchmark = True`, `sys.setrecursionlimit`,
logging set-up, resolvers, ConfigStore entries) have run; a job in another interpreter gets the
task function alone. So the job runs the script first, the way Python's multiprocessing `spawn`
does: under the name `__mp_main__`, so its `if __name__ == "__main__":` block does not run.

A script that calls its task at module level without that guard would launch the sweep again
from inside every job; the launcher checks for that (`calls_task_unguarded`) and the job then
skips the top level, as the launch says.
"""

from __future__ import annotations

import ast
import runpy
import sys
from pathlib import Path

RUN_NAME = "__mp_main__"


def calls_task_unguarded(script: Path, task_name: str) -> bool:
    """Whether `script` calls `task_name(...)` in a module-level statement (outside any `if`,
    function or class): running its top level would run the task, or the whole app."""
    try:
        tree = ast.parse(script.read_bytes(), filename=str(script))
    except (OSError, SyntaxError, ValueError):
        return True  # cannot tell: do not run it
    for statement in tree.body:
        if isinstance(statement, ast.If | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for node in ast.walk(statement):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == task_name
            ):
                return True
    return False


def run_top_level(script: str) -> None:
    """Run `script`'s module-level statements as module `__mp_main__`, with `sys.argv` as if
    it ran bare (a module-level argument parser sees no job-runner arguments)."""
    argv = sys.argv
    sys.argv = [script]
    try:
        namespace = runpy.run_path(script, run_name=RUN_NAME)
    finally:
        sys.argv = argv
    module = type(sys)(RUN_NAME)
    module.__dict__.update(namespace)
    sys.modules[RUN_NAME] = module
