"""A job is the job Hydra's basic launcher runs: the app's script is `__main__` in the job, a
package app keeps its package, a task imported from the project's modules is snapshotted.

Each app is written here in a shape users have (written fresh, unlike tests/apps), and run both
ways: with Hydra's basic launcher (in the launching process) and with tsq; what the task saw
must be the same. The behaviour does not depend on the task-spooler variant: Debian's only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sweeps import Sandbox, debian_only

# Facts a task reports about its `__main__`, written to its output dir (the same file under
# either launcher): what pickle and multiprocessing rely on.
SCRIPT_APP = """\
import json
import multiprocessing
import pickle
import sys
import threading
from dataclasses import dataclass

import hydra
from hydra.core.hydra_config import HydraConfig

LOCK = threading.Lock()  # cannot be pickled: the job's task must use the script's own globals

def square(x):
    return x * x


@dataclass
class Checkpoint:
    step: int


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    with LOCK, multiprocessing.get_context("fork").Pool(2) as pool:
        forked = pool.map(square, [1, 2, 3])
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        spawned = pool.map(square, [4])
    blob = pickle.dumps(Checkpoint(cfg.x))
    main_module = sys.modules["__main__"]
    facts = {
        "main_name": main_module.__name__,
        "main_file": main_module.__file__.rsplit("/", 1)[-1],
        "is_main": main_module.__dict__.get("Checkpoint") is Checkpoint,
        "name": __name__,
        "square_module": square.__module__,
        "pickled_as": f"{type(pickle.loads(blob)).__module__}.{Checkpoint.__qualname__}",
        "names_main": b"__main__" in blob,
        "forked": forked,
        "spawned": spawned,
    }
    out = HydraConfig.get().runtime.output_dir
    with open(f"{out}/facts.json", "w") as f:
        json.dump(facts, f)
    with open(f"{out}/checkpoint.pkl", "wb") as f:
        f.write(blob)
    return facts


if __name__ == "__main__":
    main()
"""

# Loads the task's checkpoint in a later `python load.py`, as a user's evaluation script does:
# it finds `__main__.Checkpoint` only if the job pickled it under that name.
LOAD = """\
import pickle
import sys
from dataclasses import dataclass


@dataclass
class Checkpoint:
    step: int


print(pickle.load(open(sys.argv[1], "rb")).step)
"""

PACKAGE_APP = """\
import hydra

from .model import scale


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    return {"scaled": scale(cfg.x), "package": __package__, "spec": __spec__.name}


if __name__ == "__main__":
    main()
"""

TASK_MODULE = """\
import hydra

from mypkg import helper


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    return {"value": helper.VALUE, "x": cfg.x}
"""

THIN_SCRIPT = """\
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mypkg.train import main  # noqa: E402

if __name__ == "__main__":
    main()
"""

UNGUARDED = """\
import sys

import hydra

sys.setrecursionlimit(4321)


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    with open("runs.txt", "a") as f:
        f.write(f"{cfg.x}\\n")
    return sys.getrecursionlimit()


main()
print("after the call")
"""

PATHS_APP = """\
import os
import sys

import hydra

HERE = os.getcwd()


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    return [entry for entry in sys.path if entry in ("", HERE)]


if __name__ == "__main__":
    main()
"""


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()  # fmt: skip


def _write(root: Path, files: dict[str, str], commit: bool = True) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / ".gitignore").write_text("multirun/\nbasic/\n")
    if commit:
        _git(root, "init", "-q", "-b", "main")
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "first")
    return root


def _run(sandbox: Sandbox, cwd: Path, argv: list[str], *overrides: str) -> str:
    """Launch with tsq; the sweep's id."""
    proc = subprocess.run([sys.executable, *argv, "-m", "hydra/launcher=ts", *overrides],
                          cwd=cwd, env=sandbox.env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return sandbox.status()[0]["sweep"]


def _basic(sandbox: Sandbox, cwd: Path, argv: list[str], *overrides: str) -> Path:
    """The same sweep with Hydra's basic launcher, in the launching process: its sweep dir."""
    out = cwd / "basic"
    proc = subprocess.run([sys.executable, *argv, "-m", "hydra/launcher=basic",
                           f"hydra.sweep.dir={out}", *overrides],
                          cwd=cwd, env=sandbox.env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out


def _returns(sandbox: Sandbox, sweep: str) -> list:
    collected = json.loads(sandbox.tsq("collect", sweep, "--json").stdout)
    assert [r["state"] for r in collected] == ["completed"] * len(collected), collected
    return [r["return_value"] for r in collected]


@debian_only
def test_the_script_is_the_jobs_main_as_under_the_basic_launcher(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Functions and classes of the script pickle (a fork Pool, a spawn Pool, a checkpoint), and
    the checkpoint loads in a later script, as with the basic launcher."""
    root = _write(tmp_path / "proj", {"train.py": SCRIPT_APP, "load.py": LOAD})
    sweep = _run(sandbox, root, ["train.py"], "+x=3")
    basic = _basic(sandbox, root, ["train.py"], "+x=3")
    sandbox.wait_terminal()
    [facts] = _returns(sandbox, sweep)
    assert facts == json.loads((basic / "0" / "facts.json").read_text())
    assert facts["pickled_as"] == "__main__.Checkpoint" and facts["spawned"] == [16]
    [job] = sandbox.status(sweep)
    loaded = subprocess.run([sys.executable, "load.py", f"{job['output_dir']}/checkpoint.pkl"],
                            cwd=root, capture_output=True, text=True, check=True)  # fmt: skip
    assert loaded.stdout.strip() == "3"


@debian_only
def test_a_package_app_run_with_python_m_keeps_its_package(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    files = {"exp/__init__.py": "", "exp/app.py": PACKAGE_APP,
             "exp/model.py": "def scale(x):\n    return 10 * x\n"}  # fmt: skip
    root = _write(tmp_path / "proj", files)
    sweep = _run(sandbox, root, ["-m", "exp.app"], "+x=1,2")
    _basic(sandbox, root, ["-m", "exp.app"], "+x=1,2")  # which runs it
    sandbox.wait_terminal()
    expected = [{"scaled": 10, "package": "exp", "spec": "exp.app"},
                {"scaled": 20, "package": "exp", "spec": "exp.app"}]  # fmt: skip
    assert _returns(sandbox, sweep) == expected


@debian_only
def test_a_task_imported_from_the_projects_package_runs_its_launched_code(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A thin script (a console-script entry point's shape) imports the task from the project:
    the project is snapshotted, its commit recorded, and an edit after launch does not reach
    a queued job."""
    files = {"mypkg/__init__.py": "", "mypkg/train.py": TASK_MODULE, "scripts/run.py": THIN_SCRIPT,
             "mypkg/helper.py": 'VALUE = "as launched"\n'}  # fmt: skip
    root = _write(tmp_path / "proj", files)
    blocker = sandbox.block_queue()
    sweep = _run(sandbox, root, ["scripts/run.py"], "+x=1")
    (root / "mypkg" / "helper.py").write_text('VALUE = "edited after launch"\n')
    sandbox.release(blocker)
    sandbox.wait_terminal()
    assert _returns(sandbox, sweep) == [{"value": "as launched", "x": 1}]
    [job] = sandbox.status(sweep)
    assert job["git_commit"] == _git(root, "rev-parse", "HEAD")
    assert "code: git " in sandbox.tsq("status", sweep).stdout


@debian_only
def test_a_script_that_calls_its_app_unguarded_runs_its_set_up_not_the_app(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Its statements before the call run in the job (the recursion limit); the call does not
    (the task runs once per job, from the job), and the job says so."""
    root = _write(tmp_path / "proj", {"app.py": UNGUARDED})
    sweep = _run(sandbox, root, ["app.py"], "+x=1,2", "hydra.job.chdir=false")
    sandbox.wait_terminal()
    assert _returns(sandbox, sweep) == [4321, 4321]
    assert sorted((root / "runs.txt").read_text().split()) == ["1", "2"]
    logs = sandbox.tsq("logs", f"{sweep}:0").stdout
    assert "calls the Hydra app at module level" in logs and "app.py:15" in logs
    assert "after the call" not in logs


@debian_only
def test_the_jobs_import_path_is_the_launchs_not_its_working_directory(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """`python scripts/app.py` from the project's root: the script's dir is on `sys.path`, the
    working directory is not, under either launcher (the job's runner must not add it)."""
    root = _write(tmp_path / "proj", {"scripts/app.py": PATHS_APP})
    sweep = _run(sandbox, root, ["scripts/app.py"], "+x=1")
    sandbox.wait_terminal()
    assert _returns(sandbox, sweep) == [[]]
