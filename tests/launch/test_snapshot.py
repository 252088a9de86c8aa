"""Code snapshots on real git repositories and plain directories made in a temp dir."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sweeps import ReadOnly, Sandbox

from tsq.launch.snapshot import (
    LARGE,
    NOT_CODE,
    Limits,
    Linked,
    SnapshotError,
    collect_garbage,
    project_of,
    release,
)
from tsq.launch.snapshot import take as take_for

LIMITS = Limits(max_file_bytes=100_000, max_total_bytes=1_000_000)


def take(main_file: Path, module: str | None, store: Path, limits: Limits, sweep: str = "s1"):
    return take_for(main_file, module, store, limits, sweep=sweep, owner="/the/store.db")


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A project in git: a committed app and module, a data file git ignores."""
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_text("import pkg.model\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "model.py").write_text("SIZE = 1\n")
    (root / ".gitignore").write_text("data/\n")
    (root / "data").mkdir()
    (root / "data" / "big.bin").write_bytes(b"\0" * 10)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return root


def files_in(code: Path) -> set[str]:
    """The files the snapshot holds a frozen copy of."""
    return {str(p.relative_to(code)) for p in code.rglob("*") if p.is_file() and not p.is_symlink()}


def links_in(code: Path) -> dict[str, str]:
    """The snapshot's symbolic links (never followed) -> their targets."""
    return {str(p.relative_to(code)): os.readlink(p) for p in code.rglob("*") if p.is_symlink()}


def test_a_git_project_is_copied_with_uncommitted_edits_and_provenance(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "pkg" / "model.py").write_text("SIZE = 2\n")  # a dirty edit
    (repo / "notes.py").write_text("untracked = True\n")
    snap = take(repo / "train.py", None, tmp_path / "store", LIMITS)
    assert snap.project == repo.resolve()
    assert files_in(snap.code) == {".gitignore", "train.py", "pkg/__init__.py",
                                   "pkg/model.py", "notes.py"}, "ignored: not copied"  # fmt: skip
    assert links_in(snap.code) == {"data": str(repo / "data")}, "but linked, as one entry"
    assert (snap.code / "pkg" / "model.py").read_text() == "SIZE = 2\n", "as on disk"
    p = snap.provenance
    assert (p.git_commit, p.git_branch, p.git_dirty) == (git(repo, "rev-parse", "HEAD"), "main",
                                                         True)  # fmt: skip
    assert json.loads((snap.code.parent / "provenance.json").read_text())["git_dirty"] is True
    patch = (snap.code.parent / "uncommitted.patch").read_text()
    assert "-SIZE = 1" in patch and "+SIZE = 2" in patch
    assert p.describe().startswith(f"git {p.git_commit[:12]} (main, uncommitted changes) in ")
    assert snap.remap(str(repo / "pkg")) == str(snap.code / "pkg")
    assert snap.remap("/usr/lib/python3") == "/usr/lib/python3"
    ignored = str(repo / "data" / "big.bin")
    assert snap.remap(ignored) == ignored, "only linked: imported from where it is"


def test_snapshots_are_shared_and_only_new_content_is_stored(repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"

    def objects() -> list[Path]:
        return sorted(p for p in (store / "objects").rglob("*") if p.is_file())

    first = take(repo / "train.py", None, store, LIMITS)
    stored = objects()
    again = take(repo / "train.py", None, store, LIMITS)
    assert again.id == first.id and again.code == first.code, "an unchanged project: one copy"
    assert objects() == stored
    (repo / "pkg" / "model.py").write_text("SIZE = 3\n")
    edited = take(repo / "train.py", None, store, LIMITS)
    assert edited.id != first.id
    assert (first.code / "pkg" / "model.py").read_text() == "SIZE = 1\n", "the old one stays"
    assert (edited.code / "pkg" / "model.py").read_text() == "SIZE = 3\n"
    same = (first.code / "train.py").stat(), (edited.code / "train.py").stat()
    assert same[0].st_ino == same[1].st_ino, "an unchanged file is stored once"
    assert len(objects()) == len(stored) + 1

    take(repo / "train.py", None, store, LIMITS, sweep="s2")  # a second sweep uses it
    assert not release(edited.code, "s1") and edited.code.exists(), "s2 still uses it"
    assert release(first.code, "s1"), "no sweep uses the first one any more"
    assert not first.code.exists() and (edited.code / "pkg" / "model.py").exists()
    assert len(objects()) == len(stored), "the old model.py went with it, nothing else"
    assert collect_garbage(store, "/the/store.db", {"s1", "s2"}) == (0, 0)
    assert collect_garbage(store, "/other/store.db", set()) == (0, 0), "not its sweeps"
    size = sum(p.stat().st_size for p in objects())
    assert collect_garbage(store, "/the/store.db", set()) == (1, size)
    assert objects() == [] and not edited.code.exists()


def test_large_files_are_linked_live_and_a_large_copy_is_refused(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "weights.pt").write_bytes(b"w" * 200_000)
    snap = take(repo / "train.py", None, tmp_path / "store", LIMITS)
    assert "weights.pt" not in files_in(snap.code)
    assert links_in(snap.code)["weights.pt"] == str(repo / "weights.pt")
    assert snap.linked[0] == Linked("weights.pt", LARGE, 200_000), "large files first"
    for n in range(10):  # linked, not copied: they do not count against the limit
        (repo / f"weights{n}.pt").write_bytes(b"w" * 200_000)
    take(repo / "train.py", None, tmp_path / "store", LIMITS)
    for n in range(12):
        (repo / f"table{n}.py").write_text("x" * 90_000)
    with pytest.raises(SnapshotError) as refused:
        take(repo / "train.py", None, tmp_path / "store2", LIMITS)
    message = str(refused.value)
    assert "over the limit of 1.0 MB" in message and "table" in message
    assert "snapshot_max_mb" in message and "snapshot=false" in message
    assert not (tmp_path / "store2").exists() or not any((tmp_path / "store2").iterdir())


def test_outside_git_the_import_directory_is_copied(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "sub" / "app.py").write_text("")
    (root / "helpers.py").write_text("")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.py").write_text("")
    (root / "venv").mkdir()
    (root / "venv" / "pyvenv.cfg").write_text("")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "a.pyc").write_text("")
    assert project_of(root / "pkg" / "sub" / "app.py", "pkg.sub.app") == (root, False)
    assert project_of(root / "helpers.py", None) == (root, False)
    snap = take(root / "pkg" / "sub" / "app.py", "pkg.sub.app", tmp_path / "store", LIMITS)
    assert files_in(snap.code) == {"pkg/__init__.py", "pkg/sub/app.py", "helpers.py"}
    assert links_in(snap.code) == {".hidden": str(root / ".hidden"), "venv": str(root / "venv")}
    assert {(item.path, item.why) for item in snap.linked} == {(".hidden", NOT_CODE),
                                                               ("venv", NOT_CODE)}  # fmt: skip
    assert snap.provenance.git_commit is None
    assert snap.provenance.note == "not a git repository"
    assert "(not a git repository)" in snap.provenance.describe()


def test_without_git_installed_the_directory_rule_applies(repo: Path, tmp_path: Path) -> None:
    probe = (
        "import json, sys\nfrom pathlib import Path\nfrom tsq.launch.snapshot import Limits, take\n"
        "s = take(Path(sys.argv[1]), None, Path(sys.argv[2]), Limits(10**6, 10**7), 's', 'o')\n"
        "print(json.dumps([s.provenance.note, sorted(p.name for p in s.code.rglob('*.py'))]))"
    )
    env = {**os.environ, "PATH": str(tmp_path / "no-bin")}
    out = subprocess.run([sys.executable, "-c", probe, str(repo / "train.py"),
                          str(tmp_path / "store")], env=env, capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    note, names = json.loads(out)
    assert note == "git is not installed"
    assert names == ["__init__.py", "model.py", "train.py"]


def test_an_unreadable_file_is_one_clear_error(repo: Path, tmp_path: Path) -> None:
    """Root reads every file; so the probe runs as root without the capabilities that let it
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), on a file another user owns, mode 0600."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop the right to read every file")
    secret = repo / "pkg" / "secret.py"
    secret.write_text("KEY = 1\n")
    shutil.chown(secret, "nobody")
    secret.chmod(0o600)
    probe = (
        "import sys\nfrom pathlib import Path\nfrom tsq.launch.snapshot import Limits, take\n"
        "from tsq.errors import TsqError\n"
        "try:\n    take(Path(sys.argv[1]), None, Path(sys.argv[2]), Limits(10**6, 10**7),"
        " 's', 'o')\n"
        "except TsqError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", sys.executable,
         "-c", probe, str(repo / "train.py"), str(tmp_path / "store")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out.startswith(f"cannot snapshot {secret}: Permission denied"), out
    assert "snapshot=false" in out


def test_a_read_only_store_is_one_clear_error(
    repo: Path, tmp_path: Path, read_only: ReadOnly
) -> None:
    store = read_only(tmp_path / "ro")
    with pytest.raises(SnapshotError) as refused:
        take(repo / "train.py", None, store, LIMITS)
    assert "cannot write the code snapshot in" in str(refused.value)
    assert "Read-only file system" in str(refused.value)


# --- end to end: sweeps queued behind a blocker, edited before their jobs start ---------------

APP = """\
import sys

import hydra

import helper
from lib import util

sys.setrecursionlimit(4321)  # module level: must take effect in the job too


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    return {"helper": helper.VALUE, "util": util.VALUE, "limit": sys.getrecursionlimit()}


if __name__ == "__main__":
    main()
"""

PKG_APP = """\
import hydra

from pkg import metrics


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    return metrics.NAME


if __name__ == "__main__":
    main()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's git project: an app, a sibling module, a package in a subfolder, a package app
    run with `python -m`, an ignored data dir; committed, then edited without committing."""
    root = tmp_path / "project"
    (root / "lib").mkdir(parents=True)
    (root / "pkg").mkdir()
    (root / "data").mkdir()
    (root / "app.py").write_text(APP)
    (root / "helper.py").write_text('VALUE = "committed"\n')
    (root / "lib" / "__init__.py").write_text("")
    (root / "lib" / "util.py").write_text('VALUE = "lib as launched"\n')
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "app.py").write_text(PKG_APP)
    (root / "pkg" / "metrics.py").write_text('NAME = "metrics as launched"\n')
    (root / "data" / "table.csv").write_text("a,b\n")
    (root / ".gitignore").write_text("data/\nmultirun/\n")
    git(root, "init", "-q", "-b", "exp")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    (root / "helper.py").write_text('VALUE = "as launched"\n')  # uncommitted
    return root


def _launch(sandbox: Sandbox, project: Path, argv: list[str], *overrides: str) -> str:
    subprocess.run([sys.executable, *argv, "-m", "hydra/launcher=ts", *overrides],
                   cwd=project, env=sandbox.env, check=True, capture_output=True)  # fmt: skip
    return sandbox.status()[-1]["sweep"]


def _collected(sandbox: Sandbox, sweep: str) -> list:
    return [r["return_value"] for r in json.loads(sandbox.tsq("collect", sweep, "--json").stdout)]


def test_a_sweep_queued_before_an_edit_runs_the_code_it_was_launched_with(
    sandbox: Sandbox, project: Path
) -> None:
    blocker = sandbox.block_queue()
    sweep = _launch(sandbox, project, ["app.py"], "+x=1,2")
    (project / "helper.py").write_text('VALUE = "edited after launch"\n')
    (project / "lib" / "util.py").write_text('VALUE = "lib edited"\n')
    sandbox.release(blocker)
    sandbox.wait_terminal()
    assert (
        _collected(sandbox, sweep)
        == [{"helper": "as launched", "util": "lib as launched", "limit": 4321}] * 2
    ), "the launched code, and the script's top level ran in the job"
    job = sandbox.status(sweep)[0]
    assert (job["git_commit"], job["git_dirty"]) == (git(project, "rev-parse", "HEAD"), True)
    line = sandbox.tsq("status", sweep).stdout.splitlines()[2]
    assert line.strip().startswith(f"code: git {job['git_commit'][:12]} (exp, uncommitted")
    assert json.loads(sandbox.tsq("collect", sweep, "--json").stdout)[0]["git_dirty"] is True

    retried = sandbox.tsq("retry", sweep, "0").stdout
    assert "with the code as launched" in retried
    sandbox.wait_terminal()
    assert _collected(sandbox, sweep)[0]["helper"] == "as launched", "a retry too"


def test_a_package_run_with_python_m_runs_its_launched_modules(
    sandbox: Sandbox, project: Path
) -> None:
    blocker = sandbox.block_queue()
    sweep = _launch(sandbox, project, ["-m", "pkg.app"], "+x=1")
    (project / "pkg" / "metrics.py").write_text('NAME = "edited"\n')
    sandbox.release(blocker)
    sandbox.wait_terminal()
    assert _collected(sandbox, sweep) == ["metrics as launched"]


def test_without_a_snapshot_a_job_runs_the_code_on_disk(sandbox: Sandbox, project: Path) -> None:
    blocker = sandbox.block_queue()
    sweep = _launch(sandbox, project, ["app.py"], "+x=1", "hydra.launcher.snapshot=false")
    (project / "helper.py").write_text('VALUE = "edited after launch"\n')
    sandbox.release(blocker)
    sandbox.wait_terminal()
    assert _collected(sandbox, sweep)[0]["helper"] == "edited after launch"
    job = sandbox.status(sweep)[0]
    assert job["git_commit"] == git(project, "rev-parse", "HEAD"), "provenance all the same"


def test_a_project_over_the_limit_is_refused_before_anything_is_queued(
    sandbox: Sandbox, project: Path
) -> None:
    (project / "model.ckpt").write_bytes(b"\0" * 3_000_000)  # left out: over the per-file rule
    (project / "vendored.py").write_text("#" * 1_500_000)
    proc = subprocess.run(
        [sys.executable, "app.py", "-m", "hydra/launcher=ts", "+x=1",
         "hydra.launcher.snapshot_max_mb=1"],
        cwd=project, env=sandbox.env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = next(line for line in proc.stderr.splitlines() if "tsq:" in line)
    assert "vendored.py (1.5 MB)" in line and "model.ckpt" not in line
    assert "hydra.launcher.snapshot_max_mb" in line
    assert sandbox.tsp("-l").stdout.splitlines()[1:] == [] and sandbox.status() == []


def test_hydra_outputs_and_tsqs_own_files_are_not_code(tmp_path: Path) -> None:
    """An app run from its own directory: Hydra writes outputs/ and multirun/ there, and a
    user may keep the store there too; none of it is copied (it changes as jobs run): the
    dirs holding outputs only are one live link each, tsq's files are left out."""
    root = tmp_path / "app"
    run = root / "outputs" / "2026-11-28" / "16-40-00"
    sweep = root / "multirun" / "2026-11-28" / "16-41-00"
    for directory in (run / ".hydra", sweep / "0", sweep / ".tsq" / "abc", root / "store"):
        directory.mkdir(parents=True)
    (root / "app.py").write_text("")
    (run / "app.log").write_text("log")
    (sweep / "multirun.yaml").write_text("")
    (sweep / "0" / "model.pt").write_text("w")
    (root / "store" / "tsq.db").write_text("db")
    (root / "store" / "tsq.db-wal").write_text("wal")
    snap = take_for(root / "app.py", None, root / "store" / "snapshots", LIMITS, sweep="s",
                    owner="o", exclude=[root / "store" / "tsq.db", root / "store" / "tsq.db-wal",
                                        root / "store" / "snapshots"])  # fmt: skip
    assert files_in(snap.code) == {"app.py"}
    assert links_in(snap.code) == {"outputs": str(root / "outputs"),
                                   "multirun": str(root / "multirun")}  # fmt: skip
    (root / "multirun" / "2026-11-28" / "16-42-00" / ".tsq").mkdir(parents=True)  # a new sweep
    again = take_for(root / "app.py", None, root / "store" / "snapshots", LIMITS, sweep="s2",
                     owner="o", exclude=[root / "store" / "tsq.db", root / "store" / "tsq.db-wal",
                                         root / "store" / "snapshots"])  # fmt: skip
    assert again.id == snap.id, "the snapshots themselves are not snapshotted"


# --- end to end: projects of the shapes of tsq issue 29, against Hydra's basic launcher ----------

SHAPE_APP = """\
import json

import hydra
{imports}

@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
{body}
    print("RESULT", json.dumps(value), flush=True)
    return value


if __name__ == "__main__":
    main()
"""


def shape_app(body: str, imports: str = "") -> str:
    """An app whose task computes `value` with `body` (indented here), prints and returns it."""
    indented = "".join(f"    {line}\n" for line in body.strip().splitlines())
    return SHAPE_APP.format(imports=imports, body=indented.rstrip("\n"))


def commit_all(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")


def with_basic(sandbox: Sandbox, cwd: Path, argv: list[str], python: str = sys.executable) -> list:
    """What Hydra's basic launcher gives for the same app (run in the launching process)."""
    proc = subprocess.run([python, *argv, "-m", "hydra/launcher=basic", "+x=1"], cwd=cwd,
                          env=sandbox.env, check=True, capture_output=True, text=True)  # fmt: skip
    return [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]


def queued_then_edited(
    sandbox: Sandbox,
    cwd: Path,
    argv: list[str],
    edit: dict[Path, str],
    *overrides: str,
    python: str = sys.executable,
) -> tuple[list, str]:
    """Launch with tsq behind a blocker, write `edit` while the job is queued, let it run:
    (its return values, the launch's output)."""
    blocker = sandbox.block_queue()
    proc = subprocess.run([python, *argv, "-m", "hydra/launcher=ts", "+x=1", *overrides],
                          cwd=cwd, env=sandbox.env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for path, text in edit.items():
        path.write_text(text)
    sandbox.release(blocker)
    sandbox.wait_terminal()
    sweep = sandbox.status()[0]["sweep"]
    return _collected(sandbox, sweep), proc.stdout + proc.stderr


def test_a_git_ignored_module_beside_the_script_is_copied_and_said(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Item 3: `local_settings.py`, ignored, imported by the task: frozen with the code."""
    root = tmp_path / "p3"
    root.mkdir()
    (root / "app.py").write_text(shape_app("import local_settings\nvalue = local_settings.TOKEN"))
    (root / ".gitignore").write_text("local_settings.py\nmultirun/\n")
    (root / "local_settings.py").write_text('TOKEN = "as launched"\n')
    commit_all(root)
    basic = with_basic(sandbox, root, ["app.py"])
    ran, said = queued_then_edited(
        sandbox, root, ["app.py"], {root / "local_settings.py": 'TOKEN = "edited"\n'}
    )
    assert ran == basic == ["as launched"]
    assert "git-ignored code among them: local_settings.py" in said, said


def test_a_tracked_symlinked_directory_points_at_the_snapshots_copy(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Item 4: `scripts/common -> ../common`, committed as a link."""
    root = tmp_path / "p4"
    (root / "scripts").mkdir(parents=True)
    (root / "common").mkdir()
    (root / "common" / "__init__.py").write_text("")
    (root / "common" / "util.py").write_text('VALUE = "as launched"\n')
    (root / "scripts" / "common").symlink_to("../common")
    (root / "scripts" / "app.py").write_text(
        shape_app("from common import util\nvalue = util.VALUE")
    )
    (root / ".gitignore").write_text("multirun/\n")
    commit_all(root)
    basic = with_basic(sandbox, root, ["scripts/app.py"])
    ran, said = queued_then_edited(
        sandbox, root, ["scripts/app.py"], {root / "common" / "util.py": 'VALUE = "edited"\n'}
    )
    assert ran == basic == ["as launched"], "found through the link, and frozen"
    assert "symbolic link to a live path" not in said, "a link that stays in the project is code"


def test_data_found_from_a_modules_file_is_linked_live(sandbox: Sandbox, tmp_path: Path) -> None:
    """Item 5: `ROOT = Path(__file__).parents[1]`; `ROOT / "data"` is git-ignored and a
    checkpoint is over the per-file limit: both are reached through the snapshot, live."""
    root = tmp_path / "p5"
    (root / "pkg").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "paths.py").write_text(
        "from pathlib import Path\n\nROOT = Path(__file__).parents[1]\n\n\ndef load():\n"
        '    return [(ROOT / "data" / "table.csv").read_text(),\n'
        '            (ROOT / "ckpt.bin").stat().st_size]\n'
    )
    (root / "app.py").write_text(shape_app("value = paths.load()", "\nfrom pkg import paths\n"))
    (root / "data" / "table.csv").write_text("a,b\n")
    (root / "ckpt.bin").write_bytes(b"\0" * 3_000_000)
    (root / ".gitignore").write_text("data/\nmultirun/\n")
    commit_all(root)
    basic = with_basic(sandbox, root, ["app.py"])
    ran, said = queued_then_edited(sandbox, root, ["app.py"], {})
    assert ran == basic == [["a,b\n", 3_000_000]]
    assert "linked live, not frozen: 1 large (ckpt.bin 3.0 MB); 2 git-ignored (" in said, said


def test_a_hydra_dir_beside_the_script_does_not_unfreeze_its_code(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Item 6: a plain run with `hydra.run.dir=.` left `.hydra/` in the script's dir; an edit
    made after the launch must not reach the queued job."""
    root = tmp_path / "p6"
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "helper.py").write_text('VALUE = "as launched"\n')
    (root / "scripts" / "app.py").write_text(shape_app("value = helper.VALUE", "\nimport helper\n"))
    (root / ".gitignore").write_text("multirun/\n")
    commit_all(root)
    scripts = root / "scripts"
    subprocess.run([sys.executable, "app.py", "hydra.run.dir=."], cwd=scripts, env=sandbox.env,
                   check=True, capture_output=True)  # fmt: skip
    assert (scripts / ".hydra" / "config.yaml").exists()
    basic = with_basic(sandbox, scripts, ["app.py"])
    ran, said = queued_then_edited(
        sandbox, scripts, ["app.py"], {scripts / "helper.py": 'VALUE = "edited"\n'}
    )
    assert ran == basic == ["as launched"]
    assert "(1 file copied" not in said, said


def test_a_package_in_a_git_submodule_is_copied(sandbox: Sandbox, tmp_path: Path) -> None:
    """Item 8: the package `extlib` is a git submodule of the project."""
    lib = tmp_path / "extlib-src"
    lib.mkdir()
    (lib / "__init__.py").write_text('VALUE = "as launched"\n')
    commit_all(lib)
    root = tmp_path / "p8"
    root.mkdir()
    (root / "app.py").write_text(shape_app("import extlib\nvalue = extlib.VALUE"))
    (root / ".gitignore").write_text("multirun/\n")
    commit_all(root)
    git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "extlib")
    git(root, "commit", "-q", "-m", "submodule")
    basic = with_basic(sandbox, root, ["app.py"])
    ran, _ = queued_then_edited(
        sandbox, root, ["app.py"], {root / "extlib" / "__init__.py": 'VALUE = "edited"\n'}
    )
    assert ran == basic == ["as launched"]


@pytest.fixture
def editable_python(tmp_path: Path) -> Path:
    """A throwaway venv that sees the test venv's packages (a `.pth` runs `site.addsitedir`), so
    `pip install -e` there leaves the shared venv as it was."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    shared = next(p for p in sys.path if p.endswith("site-packages") and "venv" in p)
    (site / "shared-venv.pth").write_text(f"import site; site.addsitedir({shared!r})\n")
    return venv / "bin" / "python"


def install_editable(python: Path, where: Path, name: str) -> None:
    """`where` a flat-layout project of package `name`, installed with `pip install -e`: for
    that layout setuptools installs an import-hook finder (`__editable___..._finder`)."""
    (where / name).mkdir(parents=True)
    (where / name / "__init__.py").write_text('VALUE = "as launched"\n')
    (where / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "0"\n[tool.setuptools]\npackages = ["{name}"]\n'
    )
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "-e",
                    str(where), "--no-deps", "--no-build-isolation", "--no-index",
                    "--disable-pip-version-check"], check=True, capture_output=True)  # fmt: skip


def test_editable_packages_run_from_the_snapshot_or_are_said_to_run_live(
    sandbox: Sandbox, tmp_path: Path, editable_python: Path
) -> None:
    """Item 8: two packages installed editable with setuptools' import-hook finder, imported
    only by the task: the one inside the project runs as launched, the one outside it runs
    live, and the launch says so."""
    root = tmp_path / "p8e"
    root.mkdir()
    install_editable(editable_python, root / "libs" / "inproj", "inlib")
    install_editable(editable_python, tmp_path / "elsewhere", "outlib")
    finders = subprocess.run([str(editable_python), "-c", "import sys; print(sys.meta_path)"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "__editable___inlib_0_finder" in finders and "__editable___outlib_0_finder" in finders
    (root / "app.py").write_text(
        shape_app("import inlib, outlib\nvalue = [inlib.VALUE, outlib.VALUE]")
    )
    (root / ".gitignore").write_text("multirun/\n*.egg-info/\n")
    commit_all(root)
    python = str(editable_python)
    basic = with_basic(sandbox, root, ["app.py"], python=python)
    edits = {root / "libs" / "inproj" / "inlib" / "__init__.py": 'VALUE = "edited"\n',
             tmp_path / "elsewhere" / "outlib" / "__init__.py": 'VALUE = "edited"\n'}  # fmt: skip
    ran, said = queued_then_edited(sandbox, root, ["app.py"], edits, python=python)
    assert basic == [["as launched", "as launched"]]
    assert ran == [["as launched", "edited"]], "inlib frozen; outlib live, as said:"
    outlib = tmp_path / "elsewhere" / "outlib"
    assert f"package outlib runs live from {outlib} (installed editable" in said, said
    assert "package inlib" not in said


def test_links_are_part_of_the_snapshot_id(tmp_path: Path) -> None:
    """Two projects alike but for where a link points are two snapshots (outside git: no commit
    tells them apart); a link out of the project points at the live place, one inside it at the
    snapshot's copy."""
    store = tmp_path / "store"
    ids = []
    for name, target in (("a", "../lib"), ("b", "../other")):
        root = tmp_path / name
        (root / "lib").mkdir(parents=True)
        (root / "other").mkdir()
        (root / "tools").mkdir()
        (root / "app.py").write_text("")
        (root / "tools" / "lib").symlink_to(target)
        (root / "tools" / "shared").symlink_to("../../shared")  # out of the project
        snap = take(root / "app.py", None, store, LIMITS)
        assert links_in(snap.code) == {"tools/lib": target,
                                       "tools/shared": str(tmp_path / "shared")}  # fmt: skip
        ids.append(snap.id)
    assert ids[0] != ids[1]
