"""tsq as users get it: the wheel, what it installs, and what each entry point imports.

Two installs are checked. The wheel is built from a clean copy of the working tree and installed
with `pip install --target` into a temp dir; subprocesses then run /work/venv's interpreter with
PYTHONPATH pointing there. PYTHONPATH comes before site-packages on sys.path, so the wheel's tsq
and its plugin shadow the copy installed in the venv, while the dependencies (Hydra, SQLAlchemy,
alembic, ...) come from the venv: no network, no second venv to populate. The alternative of a
fresh venv would have to download every dependency; the `--target` install still proves that the
wheel alone (migrations included) can create a store and that Hydra finds its plugin.

The other install is the one the rest of the suite imports: it must be a regular install in
site-packages (Hydra's plugin discovery does not work with editable installs), and it must match
the source tree, or the suite would be testing stale code.
"""

from __future__ import annotations

import filecmp
import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from collections.abc import Sequence
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from tsq.store import HEAD_REVISION

REPO = Path(__file__).resolve().parents[1]
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"]).resolve()

WHEEL_FILES = [
    "tsq/__init__.py",
    "tsq/__main__.py",
    "tsq/cli.py",
    "tsq/runner.py",
    "tsq/migrations/__init__.py",
    "tsq/migrations/env.py",
    "tsq/migrations/script.py.mako",
    "tsq/migrations/versions/__init__.py",
    "tsq/migrations/versions/0001_initial.py",
    "tsq/migrations/versions/0002_attempts.py",
    "hydra_plugins/hydra_ts_launcher/__init__.py",
    "hydra_plugins/hydra_ts_launcher/ts_launcher.py",
]
DEPENDENCIES = {"hydra-core", "omegaconf", "sqlalchemy", "alembic", "filelock", "cloudpickle"}
# Modules only the store needs: slow to import, and never wanted by a job or a plain Hydra app.
HEAVY = ("sqlalchemy", "alembic", "tsq.store", "tsq.launch", "tsq.refresh")


def run(
    argv: Sequence[str | os.PathLike[str]],
    cwd: Path,
    *,
    pythonpath: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TSQ_STORE")}
    # Never the user's store, whatever the command ends up doing.
    env["XDG_STATE_HOME"] = str(cwd / "state")
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [os.fspath(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def python(code: str, cwd: Path, *, pythonpath: Path | None = None) -> Any:
    """Run `code` in a fresh interpreter outside the repo; it prints one JSON value."""
    proc = run([sys.executable, "-c", textwrap.dedent(code)], cwd, pythonpath=pythonpath)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def differing(source: Path, installed: Path) -> list[str]:
    """Source files (.py, .mako) missing from the installed copy or different in it."""
    return [
        str(path.relative_to(REPO))
        for path in sorted(source.rglob("*"))
        if path.suffix in (".py", ".mako")
        and "__pycache__" not in path.parts
        and not (
            (installed / path.relative_to(source)).is_file()
            and filecmp.cmp(path, installed / path.relative_to(source), shallow=False)
        )
    ]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds, from a copy of the tree without build/ or *.egg-info.

    Building in the repo itself would reuse build/lib, which setuptools never prunes: a file
    deleted from the source (say a hydra_plugins/__init__.py) would live on in every wheel.
    """
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            ".pytest_cache",
            ".ruff_cache",
            ".venv",
            "tests",
            "outputs",
            "multirun",
        ),
    )
    out = tmp / "dist"
    proc = run(
        [sys.executable, "-m", "pip", "wheel", source, "--no-deps", "-w", out],
        tmp,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = out.glob("tsq-*.whl")
    return built


@pytest.fixture(scope="module")
def target(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed alone (no dependencies) into a directory for PYTHONPATH."""
    directory = tmp_path_factory.mktemp("target")
    proc = run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--target",
            directory,
            wheel,
        ],
        directory,
    )
    assert proc.returncode == 0, proc.stderr
    return directory


# -- the wheel --------------------------------------------------------------------------------


def test_wheel_ships_migrations_runner_and_plugin_but_no_namespace_init(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    missing = [name for name in WHEEL_FILES if name not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert "hydra_plugins/__init__.py" not in names, (
        "hydra_plugins must stay a namespace package, or it hides every other Hydra plugin"
    )
    assert not any(name.startswith(("tests/", "migrations/")) for name in names), sorted(names)


def test_wheel_declares_console_script_and_dependencies(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        (info,) = {name.split("/")[0] for name in zf.namelist() if ".dist-info/" in name}
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
        metadata = Parser().parsestr(zf.read(f"{info}/METADATA").decode())
    lines = [line.strip() for line in entry_points.splitlines()]
    section = lines.index("[console_scripts]")
    scripts = [line.replace(" ", "") for line in lines[section + 1 :] if line]
    assert "tsq=tsq.__main__:run" in scripts
    required = {
        Requirement(r).name.lower()
        for r in metadata.get_all("Requires-Dist", [])
        if Requirement(r).marker is None
    }
    assert required >= DEPENDENCIES, f"missing {DEPENDENCIES - required}"


def test_wheel_alone_creates_a_migrated_store(target: Path, tmp_path: Path) -> None:
    got = python(
        f"""
        import json, tsq, tsq.store
        from tsq.store import Store, migrations_dir
        Store.open({str(tmp_path / "s.db")!r}, create=True)
        print(json.dumps([tsq.__file__, migrations_dir()]))
        """,
        tmp_path,
        pythonpath=target,
    )
    package, migrations = got
    assert Path(package).is_relative_to(target), "the wheel's tsq must be the one imported"
    assert Path(migrations) == target / "tsq" / "migrations"
    with sqlite3.connect(tmp_path / "s.db") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (HEAD_REVISION,)
        ]
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    assert {"sweeps", "jobs"} <= tables


def test_hydra_discovers_the_wheels_plugin_without_importing_the_store(
    target: Path, tmp_path: Path
) -> None:
    got = python(
        f"""
        import inspect, json, sys
        from hydra.core.plugins import Plugins
        from hydra.plugins.launcher import Launcher
        found = {{p.__name__: inspect.getfile(p) for p in Plugins.instance().discover(Launcher)}}
        heavy = [m for m in sys.modules if m in {HEAVY!r} or m.split(".")[0] in {HEAVY!r}]
        print(json.dumps([found, heavy]))
        """,
        tmp_path,
        pythonpath=target,
    )
    found, heavy = got
    assert "TsLauncher" in found, found
    assert Path(found["TsLauncher"]).is_relative_to(target)
    assert heavy == [], "Hydra imports the plugin in every app; it must stay light"


# -- the installed package the suite runs against ---------------------------------------------


def test_suite_imports_a_regular_install_that_matches_the_source(tmp_path: Path) -> None:
    import tsq

    spec = importlib.util.find_spec("tsq.migrations")
    assert spec is not None and spec.submodule_search_locations
    migrations = Path(next(iter(spec.submodule_search_locations)))
    installed = Path(tsq.__file__).parent
    assert installed.is_relative_to(SITE_PACKAGES), (
        "the tests import the source tree; run them with the `pytest` script, not python -m pytest"
    )
    assert migrations == installed / "migrations"
    assert (migrations / "env.py").is_file()
    assert (migrations / "versions" / "0001_initial.py").is_file()
    stale = differing(REPO / "tsq", installed) + differing(REPO / "migrations", migrations)
    assert not stale, f"the installed tsq is stale ({stale}): bash scripts/setup.sh"
    # Outside the repo, a fresh interpreter finds the same install and can migrate a store.
    db = tmp_path / "s.db"
    where = python(
        f"import json, tsq.store; tsq.store.Store.open({str(db)!r}, create=True);"
        " print(json.dumps(tsq.store.__file__))",
        tmp_path,
    )
    assert Path(where).parent.parent == installed
    with sqlite3.connect(db) as connection:
        version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert version == [(HEAD_REVISION,)]


def test_installed_plugin_matches_the_source() -> None:
    spec = importlib.util.find_spec("hydra_plugins.hydra_ts_launcher")
    assert spec is not None and spec.submodule_search_locations
    installed = Path(next(iter(spec.submodule_search_locations)))
    assert installed.is_relative_to(SITE_PACKAGES)
    stale = differing(REPO / "hydra_plugins" / "hydra_ts_launcher", installed)
    assert not stale, f"the installed plugin is stale ({stale}): bash scripts/setup.sh"


# -- entry points -----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["script", "module"])
def test_tsq_help_lists_the_commands(how: str, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "tsq"
    assert script.is_file() and os.access(script, os.X_OK)
    argv = [script] if how == "script" else [sys.executable, "-m", "tsq"]
    proc = run([*argv, "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: tsq ")
    for command in ("status", "collect"):
        assert any(line.split()[:1] == [command] for line in proc.stdout.splitlines()), command


def test_plugin_discovery_in_the_suites_install_stays_light(tmp_path: Path) -> None:
    found, heavy = python(
        f"""
        import json, sys
        from hydra.core.plugins import Plugins
        from hydra.plugins.launcher import Launcher
        names = [p.__name__ for p in Plugins.instance().discover(Launcher)]
        print(json.dumps([names, sorted(m for m in sys.modules if m in {HEAVY!r}
                                         or m.split(".")[0] in {HEAVY!r})]))
        """,
        tmp_path,
    )
    assert "TsLauncher" in found
    assert heavy == []


def test_job_runner_imports_neither_sqlalchemy_nor_alembic(tmp_path: Path) -> None:
    loaded = python(
        "import json, sys, tsq.runner; print(json.dumps(sorted(sys.modules)))",
        tmp_path,
    )
    assert "tsq.runner" in loaded
    heavy = [m for m in loaded if m in HEAVY or m.split(".")[0] in HEAVY]
    assert heavy == [], "every job imports tsq.runner; the store is not its business"


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["spec.pkl"],
        ["spec.pkl", "x"],
        ["a", "1", "x"],
        ["a", "1", "2", "x"],
        ["a", "1", "2", "3", "4"],
    ],
)
def test_runner_with_wrong_arguments_prints_usage(args: list[str], tmp_path: Path) -> None:
    proc = run([sys.executable, "-m", "tsq.runner", *args], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "usage: python -m tsq.runner SPEC NUM [ATTEMPT [RESTART]]  (run by its queue, not by hand)"
    ]
    assert proc.stdout == ""
    assert list(tmp_path.iterdir()) == [], "a usage error must not create anything"
