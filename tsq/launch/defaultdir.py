"""Hydra's default sweep dir, made unique: sweeps launched back to back each get their own.

Hydra's default `multirun/${now:%Y-%m-%d}/${now:%H-%M-%S}` has one-second resolution, and a
tsq launch returns in about a second, so a script that launches two sweeps in a row gives both
the same dir, and `tsq.launch.sweepdir` would refuse the second at random. A dir the user chose (in
their config or on their command line) is theirs, read by their scripts, and keeps that
refusal; but nobody chose Hydra's default, whose whole point is a new dir per sweep. For it, a
launch takes the first of `<dir>`, `<dir>-2`, `<dir>-3`... that is not on disk yet, and points
the sweep and every one of its jobs at it.

The default is told from the config, not guessed from the path: the raw (unresolved) value of
`hydra.sweep.dir` is Hydra's pattern and no override of the launch sets it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsq.render.tables import override_dict

# Hydra's own (hydra/conf/hydra/output/default.yaml; tests/test_default_sweep_dir.py checks).
HYDRA_DEFAULT = "multirun/${now:%Y-%m-%d}/${now:%H-%M-%S}"
KEY = "hydra.sweep.dir"


def is_hydra_default(config: Any) -> bool:
    """Whether the sweep dir of this master config is Hydra's default, which no one chose: its
    raw value is Hydra's pattern, and no override (`hydra.sweep.dir=...`, or one of the nodes
    holding it) of the launch's command line set it."""
    from omegaconf import OmegaConf

    sweep = OmegaConf.to_container(config.hydra.sweep, resolve=False)
    assert isinstance(sweep, dict)
    # Unresolved: an override's value may interpolate what only a job has (`${hydra.job.num}`).
    hydra_overrides = OmegaConf.to_container(config.hydra.overrides.hydra, resolve=False)
    assert isinstance(hydra_overrides, list)
    overridden = override_dict([str(item) for item in hydra_overrides])
    return sweep.get("dir") == HYDRA_DEFAULT and not {KEY, "hydra.sweep", "hydra"} & set(overridden)


def first_free(base: Path) -> Path:
    """The first of `base`, `base-2`, `base-3`... that this call creates. Creating a directory
    is atomic, so of launches racing in one second each gets a dir of its own; one that exists
    is an earlier sweep's (ended or not), whose job dirs this sweep must not overwrite."""
    base.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            n += 1
            continue
        return candidate


def pin(config: Any, value: str) -> None:
    """Make `value` the sweep dir of the sweep and of each of its jobs: the master config's
    (Hydra's sweeper writes `multirun.yaml` there) and an override appended to the master's
    `hydra.overrides.hydra`, which Hydra applies to every job config it composes from it
    (`load_sweep_config`): each job's output dir is then under `value`, and each job's
    `.hydra/hydra.yaml` says why."""
    from omegaconf import read_write

    with read_write(config.hydra):
        config.hydra.sweep.dir = value
        config.hydra.overrides.hydra.append(f"{KEY}={value}")


def sweep_dir_of(config: Any) -> tuple[Path, Path | None]:
    """The absolute sweep dir a launch uses, and the one it replaces: None when that is the
    config's own dir (a dir the user chose, or Hydra's default while no other sweep has it)."""
    given = str(config.hydra.sweep.dir)
    path = Path(given).resolve()
    if not is_hydra_default(config):
        return path, None
    free = first_free(path)
    if free == path:
        return path, None
    pin(config, given + free.name[len(path.name) :])  # as Hydra gave it (relative), suffixed
    return free, path
