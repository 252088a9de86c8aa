"""The layout's rules as import-linter contracts (`[tool.importlinter]` in pyproject.toml): the
job never imports the store or SQLAlchemy, the plugin and the options import nothing heavy,
the refresh policy and the queue parsers do no I/O, and the layers import downwards only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the packages under `root`, with the contracts of pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--no-cache", str(REPO / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_source_keeps_every_contract() -> None:
    done = _lint(REPO)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    "module, line, contract",
    [
        ("tsq/job/runner.py", "import tsq.store", "the job never opens the store"),
        ("tsq/options.py", "import sqlalchemy", "nothing heavy"),
        ("tsq/refresh/decide.py", "import subprocess", "do no I/O"),
        ("tsq/backends/tslist.py", "from tsq.store import Job", "do no I/O"),
        ("tsq/files/spool.py", "import tsq.refresh.update", "layers"),
        ("tsq/options.py", "from tsq.errors import TsqError", "import nothing of tsq"),
        ("tsq/launch/launcher.py", "import tsq.backends.slurm", "only backends/ names a queue"),
        (
            "tsq/refresh/update.py",
            "from tsq.backends.ts import TsBackend",
            "only backends/ names a queue",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    """The contracts bite: the source with one forbidden import added fails, naming the rule
    (and, for an import that brings more along, the other rules it breaks)."""
    for package in ("tsq", "hydra_plugins"):
        shutil.copytree(REPO / package, tmp_path / package)
    path = tmp_path / module
    path.write_text(path.read_text() + f"\n{line}\n")
    done = _lint(tmp_path)
    assert done.returncode != 0
    broken = [row for row in done.stdout.splitlines() if " BROKEN" in row]
    assert any(contract in row for row in broken), done.stdout[-3000:]


def test_the_options_contract_names_every_module_of_tsq() -> None:
    """import-linter cannot forbid a source's own package, so the options' contract lists
    tsq's modules one by one: a module added later must be on that list."""
    import tomllib

    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in contracts["contracts"] if c.get("source_modules") == ["tsq.options"]]
    modules = {
        f"tsq.{path.stem}"
        for path in (REPO / "tsq").iterdir()
        if (path.suffix == ".py" or (path / "__init__.py").exists())
        and path.stem not in ("__init__", "options", "__main__")
    }
    assert set(contract["forbidden_modules"]) == modules
