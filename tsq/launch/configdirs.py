"""The config dirs of a `hydra/sweeper=tsq` sweep, frozen at launch for its jobs to compose from.

Each job composes its own config when it starts (`tsq.job.compose`), possibly hours after the
launch: the YAML files it reads must be those of the launch, wherever they live (the app's
`config_path`, `--config-dir`, a `hydra.searchpath` entry, inside the project or outside it),
and whether or not the code is snapshotted (`snapshot=false`, a git-ignored config dir are
still frozen here). So every config dir (`file://`) of the launch's search path is copied into
the sweep's spool dir, `configs/<n>/`: only what Hydra can read from it, its `.yaml` files and
the directories holding them. Hidden directories, `__pycache__`, Hydra's output dirs (a dir
holding `.hydra/`, `multirun.yaml` or `.tsq/`: a config dir `.` may hold the sweep dir itself)
are left out. Configs in packages (`pkg://`) are code, frozen with the snapshot; structured
configs travel in Hydra's pickled state.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tsq.errors import TsqError

YAML = ".yaml"
OUTPUT_MARKS = (".hydra", "multirun.yaml", ".tsq")


def file_dirs(search_path: Iterable[tuple[str, str]], master: Any) -> list[str]:
    """The config dirs composing reads: the loader's `file://` entries and those the master
    config's composition added (`hydra.searchpath`), as the real paths they had at launch."""
    # Hydra reads a path without a scheme as a file path (`ConfigRepository._get_scheme`).
    paths = [path.removeprefix("file://") for _, path in search_path
             if path.startswith("file://") or "://" not in path]  # fmt: skip
    paths += [str(source.path) for source in master.hydra.runtime.config_sources
              if source.schema == "file"]  # fmt: skip
    return list(dict.fromkeys(os.path.realpath(path) for path in paths))


def freeze(dirs: Iterable[str], root: Path) -> dict[str, str]:
    """Copy each dir's YAML tree under `root` (`root/0`, `root/1`...); a dir that does not
    exist is left out (it stays absent for the jobs, as it was at launch)."""
    frozen: dict[str, str] = {}
    for directory in dirs:
        if not os.path.isdir(directory):
            continue
        copy = root / str(len(frozen))
        try:
            _copy_yaml(Path(directory), copy)
        except OSError as e:
            raise TsqError(
                f"cannot freeze the config dir {directory} for the jobs ({e.filename}: "
                f"{e.strerror or e}); nothing was queued"
            ) from None
        frozen[directory] = str(copy)
    return frozen


def _copy_yaml(source: Path, copy: Path) -> None:
    copy.mkdir(parents=True, exist_ok=True)
    seen = {os.path.realpath(source)}
    for top, dirs, files in os.walk(source, followlinks=True):
        dirs[:] = [d for d in dirs if _walked(Path(top) / d, seen)]
        target = copy / Path(top).relative_to(source)
        target.mkdir(exist_ok=True)
        for name in files:
            if name.endswith(YAML):
                shutil.copyfile(Path(top) / name, target / name)


def _walked(directory: Path, seen: set[str]) -> bool:
    """Whether to copy below `directory`: not hidden, not a cache or an output, not a
    directory already walked (a symbolic link back up)."""
    if directory.name.startswith(".") or directory.name == "__pycache__":
        return False
    if any((directory / mark).exists() for mark in OUTPUT_MARKS):
        return False
    real = os.path.realpath(directory)
    if real in seen:
        return False
    seen.add(real)
    return True
